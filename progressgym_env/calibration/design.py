"""The designed action set of a calibration run: which actions the real backend is asked to apply.

System identification needs actions that separate the parts of the response model:

- **pulses**: one dim at a time, both signs and several sizes (gain per dim, saturation in the size,
  and the off-diagonal responses of the other dims: coupling);
- **random** actions: every dim at once at random strengths (coupling under load, the regime agents use);
- **zero** actions: no update (the surrogate and the llm backend leave the model untouched; they pin the
  noise floor of a transition to the measurement alone).

The schedule is a pure function of the seed and the number of transitions, so a resumed collection
asks for exactly the actions it asked for before.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

DEFAULT_SIZES: tuple[float, ...] = (0.25, 0.5, 1.0)
"""Pulse sizes |a_i| (the action box is [-1, 1]: 1.0 is a full-strength update)."""

KINDS: tuple[str, ...] = ("pulse", "random", "zero")


def action_schedule(
    count: int,
    dim: int,
    seed: int,
    *,
    sizes: Sequence[float] = DEFAULT_SIZES,
    random_share: float = 0.3,
    zero_share: float = 0.1,
) -> tuple[np.ndarray, list[str]]:
    """``count`` designed actions (count, dim) float32 and the kind of each, in a seeded shuffled order.

    Pulses cycle through (dim, sign, size) so every dim gets pushed both ways before any dim repeats
    a size; random actions draw each entry uniformly from [-max(sizes), max(sizes)].

    :param count: number of transitions to design.
    :param dim: the value space's dimension count.
    :param seed: the schedule's seed.
    :param sizes: pulse sizes in (0, 1].
    :param random_share: share of random actions; ``zero_share``: share of zero actions; pulses fill the rest.
    :raises ValueError: sizes outside (0, 1] or shares that do not leave room for pulses.
    """
    if not sizes or any(not 0 < float(s) <= 1 for s in sizes):
        raise ValueError(f"pulse sizes must be in (0, 1], got {list(sizes)}")
    if random_share < 0 or zero_share < 0 or random_share + zero_share > 1:
        raise ValueError(f"random_share + zero_share must be within [0, 1], got {random_share} + {zero_share}")
    rng = np.random.default_rng([int(seed), 0xCA1B])
    n_zero = int(round(count * zero_share))
    n_random = int(round(count * random_share))
    n_pulse = max(0, count - n_zero - n_random)
    dims = rng.permutation(dim)
    actions = np.zeros((count, dim), dtype=np.float32)
    kinds: list[str] = []
    row = 0
    for k in range(n_pulse):  # dim fastest, then sign, then size
        i = int(dims[k % dim])
        sign = 1.0 if (k // dim) % 2 == 0 else -1.0
        size = float(sizes[(k // (2 * dim)) % len(sizes)])
        actions[row, i] = sign * size
        kinds.append("pulse")
        row += 1
    top = float(max(sizes))
    for _ in range(n_random):
        actions[row] = rng.uniform(-top, top, size=dim)
        kinds.append("random")
        row += 1
    kinds += ["zero"] * (count - row)
    order = rng.permutation(count)
    return actions[order], [kinds[int(j)] for j in order]
