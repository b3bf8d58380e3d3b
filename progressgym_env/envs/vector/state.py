"""The batched state of N sub-envs: histories, models, simulated humans and episode buffers.

Every array has a leading env axis (row i is sub-env i). The step (:mod:`.episodes`) reads and writes
them; nothing here draws random numbers except :meth:`Histories.sample`, with the generators it is given.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from progressgym_env.envs.vector.rows import Rows
from progressgym_env.envs.vector.settings import VectorSettings
from progressgym_env.errors import ConfigError
from progressgym_env.history import History
from progressgym_env.numerics import logit
from progressgym_env.procedural import ProceduralHistory

Draw = Callable[[int], np.random.Generator]
"""The generator sub-env i draws from (the batch generator in fast mode, its own in exact mode)."""


class Histories:
    """The sub-envs' histories H (N, T, d), their logits and their centuries (N, T).

    A fixed history is one (T, d) array broadcast to every row (no copies, never resampled).
    Otherwise rows get new histories at each of their resets (:meth:`sample`).
    """

    def __init__(self, settings: VectorSettings, num_envs: int) -> None:
        n, T, d = num_envs, settings.num_centuries, settings.dim
        self.source = settings.history_source
        self.fixed = settings.fixed_history
        if self.fixed:
            history: History = self.source.history  # type: ignore[attr-defined]
            self.human = np.broadcast_to(history.values, (n, T, d))
            self.logits = np.broadcast_to(logit(history.values), (n, T, d))
            self.centuries = np.broadcast_to(np.asarray(history.centuries, dtype=np.int64), (n, T))
        else:
            self.human = np.full((n, T, d), 0.5)
            self.logits = np.zeros((n, T, d))
            self.centuries = np.zeros((n, T), dtype=np.int64)

    def sample(self, rows: Rows, batch_rng: np.random.Generator | None, draw: Draw) -> tuple[np.ndarray, list[History]]:
        """New histories for ``rows`` (procedural or custom sources); written here and returned.

        :param batch_rng: fast mode's one generator (a procedural source draws every row in one
            call), or None in exact mode.
        :param draw: the generator of sub-env i.
        :return: the rows' values (count, T, d), and the sampled :class:`History` objects of a custom
            source (empty for a procedural one, whose records share their constant fields).
        """
        source, T, d = self.source, self.human.shape[1], self.human.shape[2]
        sampled: list[History] = []
        if isinstance(source, ProceduralHistory):
            if batch_rng is not None:
                values = source.sample_values(batch_rng, (rows.count,))
            else:
                values = np.stack([source.sample_values(draw(i)) for i in rows.index.tolist()])
            self.centuries[rows.sel] = np.arange(13, 13 + T)
        else:
            values = np.empty((rows.count, T, d))
            for j, i in enumerate(rows.index.tolist()):
                history = source.sample(draw(i))
                if history.values.shape != values.shape[1:]:
                    raise ConfigError(
                        f"history source {type(source).__name__} gave a {history.values.shape} history; "
                        f"the vector env was built for {values.shape[1:]}"
                    )
                values[j] = history.values
                self.centuries[i] = history.centuries
                sampled.append(history)
        self.human[rows.sel] = values
        self.logits[rows.sel] = logit(values)
        return values, sampled


class BatchState:
    """Per-row arrays of the running episodes (N sub-envs, T centuries, d dims, ``steps`` scored steps).

    ``t`` the century index each row observes; the model and (Coevolve) simulated human as logits and
    values; ``estimate`` the last observed estimate and ``past`` the previous ones (``obs_history``);
    ``models``, ``rewards`` and ``simulated`` the episode so far, as the single env's record holds it.
    """

    def __init__(self, num_envs: int, num_centuries: int, dim: int, steps: int, obs_history: int, simulates: bool) -> None:
        n, T, d = num_envs, num_centuries, dim
        self.t = np.zeros(n, dtype=np.int64)
        self.model_logits = np.zeros((n, d))
        self.model_values = np.zeros((n, d))
        self.sim_logits = np.zeros((n, d))
        self.sim_values = np.zeros((n, d))
        self.estimate = np.zeros((n, d))
        self.past = np.zeros((n, obs_history - 1, d))
        self.models = np.zeros((n, steps, d))
        self.rewards = np.zeros((n, steps))
        self.simulated = np.zeros((n, T, d)) if simulates else np.zeros((n, 0, d))

    def keep(self, name: str, rows: Rows, values: np.ndarray) -> None:
        """Set the rows of array ``name`` (model_logits, model_values, sim_logits, sim_values, estimate) to ``values``.

        For every row, a fresh array that nothing else holds (what the step's physics returns) simply
        becomes the state's array: no copy. Otherwise the rows are written into it.
        """
        if rows.full:
            setattr(self, name, values)
        else:
            getattr(self, name)[rows.sel] = values
