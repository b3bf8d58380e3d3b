"""PG-Society's dynamics as array code over AIs and groups (and a leading batch of societies).

Every function takes arrays with any leading batch shape ``...``: ``()`` for one society (the
PettingZoo env), ``(B,)`` for B societies stepped together (:class:`~progressgym_env.society.batch.SocietyBatch`).
The per-century physics are PG-Coevolve's, called from :mod:`progressgym_env.backends.physics`
(never re-written here), so one AI and one group give PG-Coevolve's numbers bit for bit:

1. **AI update**: AI i's model moves as PG-Coevolve's agent model does (``updated_logits``, with
   fine-tuning noise drawn for the AIs that move, in AI order; an all-zero action is no update).
2. **Group pull**: group g closes ``history_pull`` of its logit gap to H_t, then ``ai_pull`` of the gap
   to the AIs it uses (``pulled_logits``), the AIs' logits mixed by its usage shares U[g, :].
3. **Usage** (``usage="adaptive"``): each group moves the fraction ``usage_rate`` of the way from U[g, :]
   to softmax_i(-beta * mean_k (logit S_{g,k} - logit M_{i,k})^2): toward the AIs whose values agree
   with its own (the echo chamber). ``usage="fixed"``: U stays uniform. Deterministic given the
   state; the seed enters through the groups' starting offsets, the noise and the elicitation.
4. **Users**: AI i's users are the groups weighted by w_g U[g, i] (w: group sizes); it observes their
   mean values through binomial queries, and its reward is their mean progress term.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from progressgym_env.backends.physics import moves_model, pulled_logits, updated_logits
from progressgym_env.numerics import sigmoid


def initial_groups(start: np.ndarray, num_groups: int, heterogeneity: float, rng: np.random.Generator) -> np.ndarray:
    """The groups' starting logits (..., G, d): H_0 plus N(0, heterogeneity^2) offsets (none drawn at 0).

    :param start: logit(H_0) of each society (..., d).
    """
    groups = np.repeat(start[..., None, :], num_groups, axis=-2)
    if heterogeneity > 0:
        groups += heterogeneity * rng.standard_normal(groups.shape)
    return groups


def update_ais(
    logits: np.ndarray, actions: np.ndarray, capacity: float, noise_sd: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(every AI's logits after its update (..., M, d), which AIs moved (..., M)).

    Non-moving AIs (all-zero action) are unchanged and draw no noise; the moving ones draw theirs in
    AI order (one AI: PG-Coevolve's draws).
    """
    moving = np.asarray(moves_model(actions.reshape(-1, actions.shape[-1]))).reshape(actions.shape[:-1])
    if not moving.any():
        return logits, moving
    noise = None
    if noise_sd > 0:
        noise = np.zeros(logits.shape)
        draws = rng.standard_normal((int(moving.sum()), logits.shape[-1]))
        draws *= noise_sd
        noise[moving] = draws
    moved = updated_logits(logits, actions, capacity, noise)
    if moving.all():
        return moved, moving
    return np.where(moving[..., None], moved, logits), moving


def pull_groups(
    groups: np.ndarray, history: np.ndarray, ais: np.ndarray, usage: np.ndarray, history_pull: float, ai_pull: float
) -> np.ndarray:
    """The groups' logits after one century (..., G, d): pulled toward H_t, then toward the AIs they use.

    :param groups: S_{t-1} in logits (..., G, d). :param history: H_t in logits (..., d).
    :param ais: the AIs' models M_t in logits (..., M, d). :param usage: U (..., G, M), rows summing to 1.
    """
    mixed = ais[..., :1, :] if ais.shape[-2] == 1 else usage @ ais  # one AI: its logits, not 1.0 * them
    mixed = np.broadcast_to(mixed, groups.shape)
    return pulled_logits(groups, history[..., None, :], mixed, history_pull, ai_pull)


def adapted_usage(usage: np.ndarray, groups: np.ndarray, ais: np.ndarray, rate: float, sharpness: float) -> np.ndarray:
    """Adaptive usage (..., G, M): each group moves ``rate`` of the way to its softmax preference over the AIs."""
    if ais.shape[-2] == 1 or rate == 0:
        return usage
    gaps = groups[..., :, None, :] - ais[..., None, :, :]
    preference = -sharpness * np.mean(gaps * gaps, axis=-1)
    preference -= preference.max(axis=-1, keepdims=True)
    np.exp(preference, out=preference)
    preference /= preference.sum(axis=-1, keepdims=True)
    moved = (1.0 - rate) * usage + rate * preference
    return moved / moved.sum(axis=-1, keepdims=True)


def user_weights(usage: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """W[..., g, i] = w_g U[g, i]: how much of AI i's use comes from group g."""
    return usage * weights[:, None]


def usage_shares(users: np.ndarray) -> np.ndarray:
    """Each AI's share of the society's use (..., M), from :func:`user_weights` (..., G, M)."""
    return users.sum(axis=-2)


def users_mean(users: np.ndarray, per_group: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """The user-weighted mean over groups of ``per_group`` (..., G[, k]) for each AI: (..., M[, k]).

    An AI without users (share 0) gets ``fallback`` (the society's mean). One group and one AI give
    the group's numbers bit for bit.
    """
    if users.shape[-1] == 1 and users.shape[-2] == 1:
        return per_group  # (..., 1[, d]): the one group's numbers are the one AI's
    share = usage_shares(users)
    weights_t = np.swapaxes(users, -1, -2)  # (..., M, G)
    if per_group.ndim == users.ndim:  # vectors (..., G, d)
        total = weights_t @ per_group
        safe = np.where(share > 0, share, 1.0)[..., None]
        return np.where(share[..., None] > 0, total / safe, fallback[..., None, :])
    total = (weights_t @ per_group[..., None])[..., 0]
    return np.where(share > 0, total / np.where(share > 0, share, 1.0), fallback[..., None])


def group_values(groups: np.ndarray) -> np.ndarray:
    """The groups' values in [0, 1] from their logits."""
    return sigmoid(groups)


def society_mean(per_group: Any, weights: np.ndarray) -> np.ndarray:
    """The group-size-weighted mean over the group axis of (..., G, d) vectors (one group: itself)."""
    per_group = np.asarray(per_group)
    if per_group.shape[-2] == 1:
        return per_group[..., 0, :] * weights[0]
    return np.einsum("...gd,g->...d", per_group, weights)
