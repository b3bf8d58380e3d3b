"""Gymnasium's vector info layout and the autoreset modes, as ``SyncVectorEnv`` builds them.

Infos are a dict of arrays with a leading env axis ((N, d) float64 for vectors, (N,) int64/float64
for numbers, object arrays for strings and lists), each key ``k`` beside a bool mask ``_k`` of the
sub-envs that set it; a nested dict (``episode_record``) has the same form inside.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode

from progressgym_env.envs.vector.rows import Rows
from progressgym_env.errors import ConfigError

Infos = dict[str, Any]


def put(infos: Infos, key: str, rows: Rows, values: np.ndarray) -> None:
    """Set ``infos[key][rows] = values`` and its ``_key`` mask, creating both as SyncVectorEnv would.

    ``values`` must be a fresh array: when it covers every sub-env it becomes the info array itself.
    """
    if key not in infos:
        if rows.full:
            infos[key], infos[f"_{key}"] = values, _all_true(rows.num_envs).copy()
            return
        infos[key] = np.zeros((rows.num_envs, *values.shape[1:]), dtype=values.dtype)
        infos[f"_{key}"] = np.zeros(rows.num_envs, dtype=bool)
    infos[key][rows.sel] = values
    infos[f"_{key}"][rows.sel] = True


@functools.cache
def _all_true(num_envs: int) -> np.ndarray:
    """A template mask of every sub-env (copied: a copy is ten times cheaper than ``np.ones``)."""
    return np.ones(num_envs, dtype=bool)


def put_constants(record: Infos, rows: Rows, constants: Mapping[str, Any]) -> None:
    """Broadcast per-episode constants (a nested dict) into ``record`` for ``rows``, with SyncVectorEnv's dtypes."""
    num_envs = rows.num_envs
    for key, value in constants.items():
        if isinstance(value, dict):
            put_constants(record.setdefault(key, {}), rows, value)
        else:
            if key not in record:
                if type(value) in (int, float, bool) or isinstance(value, np.number):
                    record[key] = np.zeros(num_envs, dtype=type(value))
                elif isinstance(value, np.ndarray):
                    record[key] = np.zeros((num_envs, *value.shape), dtype=value.dtype)
                else:
                    record[key] = np.full(num_envs, None, dtype=object)
            if record[key].dtype == object:
                holder = np.empty(1, dtype=object)
                holder[0] = value  # one reference for every row (lists must not be unpacked)
                record[key][rows.sel] = holder
            else:
                record[key][rows.sel] = value
        mask = record.setdefault(f"_{key}", np.zeros(num_envs, dtype=bool))
        mask[rows.sel] = True


def copy_arrays(info: Mapping[str, Any]) -> Infos:
    """Fresh arrays (and nested dicts) for an info structure; object entries keep their objects."""
    return {k: copy_arrays(v) if isinstance(v, dict) else v.copy() for k, v in info.items()}


def select_rows(infos: Mapping[str, Any], rows: np.ndarray) -> Infos:
    """The infos of the sub-envs in the bool mask ``rows`` only (others zeroed, masks cleared)."""
    out: Infos = {}
    for key, value in infos.items():
        if key.startswith("_"):
            continue
        sub: Any
        if isinstance(value, dict):
            sub = select_rows(value, rows)
            mask = infos[f"_{key}"] & rows
        else:
            mask = infos[f"_{key}"] & rows
            sub = np.zeros_like(value) if value.dtype != object else np.full(value.shape, None, dtype=object)
            sub[mask] = value[mask]
        if mask.any():
            out[key], out[f"_{key}"] = sub, mask
    return out


def drop_rows(infos: Mapping[str, Any], rows: np.ndarray) -> Infos:
    """The infos without the sub-envs in the bool mask ``rows`` (keys no sub-env keeps are dropped)."""
    return select_rows(infos, ~rows)


def episode_record_at(infos: Mapping[str, Any], index: int) -> dict[str, Any]:
    """Sub-env ``index``'s episode record (a plain dict, as the single env's info holds it).

    :param infos: the infos of the step on which that sub-env terminated.
    :raises KeyError: when the sub-env did not terminate on that step.
    """
    if "episode_record" not in infos or not infos["_episode_record"][index]:
        raise KeyError(f"sub-env {index} did not terminate on this step: its infos hold no episode_record")
    return _unbatch(infos["episode_record"], index)


def _unbatch(batched: Mapping[str, Any], index: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in batched.items():
        if key.startswith("_"):
            continue
        if isinstance(value, dict):
            out[key] = _unbatch(value, index)
        elif batched[f"_{key}"][index]:
            item = value[index]
            out[key] = item.item() if isinstance(item, np.generic) else copy.deepcopy(item)
    return out


# -- autoreset --------------------------------------------------------------------------------------


def parse_autoreset_mode(mode: Any, env_id: str) -> AutoresetMode:
    """An :class:`AutoresetMode` from the enum or its value/name (``"SameStep"``, ``"same_step"``)."""
    if isinstance(mode, AutoresetMode):
        return mode
    if isinstance(mode, str):
        for member in AutoresetMode:
            if mode in (member.value, member.name) or mode.lower() == member.name.lower():
                return member
    choices = ", ".join(f"AutoresetMode.{m.name}" for m in AutoresetMode)
    raise ConfigError(f"{env_id} vector env: autoreset_mode must be one of {choices}, found {mode!r}")


def same_step_infos(terminated: np.ndarray, obs: np.ndarray, infos: Infos) -> Infos:
    """SAME_STEP autoreset, laid out as ``SyncVectorEnv`` does it, before the terminated rows reset.

    The terminated sub-envs' observations go to ``infos["final_obs"]`` (an object array) and their step
    infos to ``infos["final_info"]``; the returned infos hold the other rows' step infos, ready for the
    terminated rows' reset infos.
    """
    final_obs = np.full(terminated.shape[0], None, dtype=object)
    for i in np.flatnonzero(terminated).tolist():
        final_obs[i] = obs[i].copy()
    final_info = select_rows(infos, terminated)
    out = drop_rows(infos, terminated)
    out["final_obs"], out["_final_obs"] = final_obs, terminated.copy()
    out["final_info"], out["_final_info"] = final_info, terminated.copy()
    return out


def checked_mask(mask: Any, num_envs: int) -> np.ndarray:
    """``options["reset_mask"]``: a bool array of shape (N,) selecting at least one sub-env."""
    if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_ or mask.shape != (num_envs,):
        found = f"{type(mask).__name__} {getattr(mask, 'dtype', '')} {getattr(mask, 'shape', '')}".strip()
        raise ConfigError(f"options['reset_mask'] must be a bool numpy array of shape ({num_envs},), found {found}")
    if not mask.any():
        raise ConfigError("options['reset_mask'] selects no sub-env; set at least one True")
    return mask
