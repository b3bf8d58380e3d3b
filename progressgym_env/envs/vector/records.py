"""Episode records of terminated sub-envs, in the batched info layout (``record_in_info=True``).

A record's arrays (human, model, rewards, simulated) differ per sub-env and are taken from the batched
state. Its other fields (names, config, provenance) are constants: shared by every sub-env of a fixed
or procedural history (built once, handed out in fresh arrays holding the same objects, so treat them
as read-only), or built per sub-env from the history a custom source sampled for it.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from progressgym_env.envs.vector.layout import Infos, copy_arrays, put, put_constants
from progressgym_env.envs.vector.rows import Rows
from progressgym_env.envs.vector.settings import RECORD_ARRAYS, VectorSettings
from progressgym_env.history import History
from progressgym_env.records import EpisodeRecord


class BatchRecords:
    """Builds the ``episode_record`` info of the sub-envs that terminate.

    :param settings: the vector env's settings (their ``record_constants`` are the shared fields).
    :param num_envs: N.
    :param params: the judge's parameters (record fields).
    :param simulates_human: whether records hold the simulated humans.
    """

    def __init__(self, settings: VectorSettings, num_envs: int, params: dict[str, Any], simulates_human: bool) -> None:
        self.settings = settings
        self.params = params
        self.simulates_human = simulates_human
        self._per_row: list[dict[str, Any] | None] = [None] * num_envs  # custom sources only
        self._full: Infos | None = None  # the shared fields with every row set, built on first use

    def sampled(self, rows: Rows, histories: list[History]) -> None:
        """Custom sources: the constant fields of each row's record, from the history it sampled."""
        for i, history in zip(rows.index.tolist(), histories, strict=True):
            self._per_row[i] = self._constants(history)

    def put(
        self,
        infos: Infos,
        rows: Rows,
        human: np.ndarray,
        models: np.ndarray,
        rewards: np.ndarray,
        simulated: np.ndarray | None,
    ) -> None:
        """Add the records of ``rows`` to ``infos["episode_record"]`` (and its mask)."""
        record: Infos = infos.setdefault("episode_record", {})
        put(record, "human", rows, np.array(human))
        put(record, "model", rows, np.array(models))
        put(record, "rewards", rows, np.array(rewards))
        if simulated is not None:
            put(record, "simulated", rows, np.array(simulated))
        shared = self.settings.record_constants
        if shared is not None and rows.full:  # the usual case: build once, hand out copies
            if self._full is None:
                self._full = {}
                put_constants(self._full, rows, shared)
            record.update(copy_arrays(self._full))
        elif shared is not None:
            put_constants(record, rows, copy.deepcopy(shared))
        else:
            for i in rows.index.tolist():
                put_constants(record, Rows(np.array([i]), rows.num_envs), copy.deepcopy(self._per_row[i]) or {})
        mask = infos.setdefault("_episode_record", np.zeros(rows.num_envs, dtype=bool))
        mask[rows.sel] = True

    def _constants(self, history: History) -> dict[str, Any]:
        """The shared fields of one sub-env's episode record (custom history sources)."""
        s = self.settings
        d, config = s.dim, s.config
        record = EpisodeRecord(
            challenge=s.challenge,
            human=np.zeros((0, d)),
            model=np.zeros((0, d)),
            rewards=np.zeros(0),
            centuries=list(history.centuries),
            value_space=s.value_space.name,
            dims=list(s.value_space.dims),
            similarity=s.similarity,
            backend={"backend": "surrogate", **config.settings()},
            history_provenance=dict(history.provenance),
            params=dict(self.params),
            simulated=np.zeros((0, d)) if self.simulates_human else None,
        )
        return {k: v for k, v in record.to_dict().items() if k not in RECORD_ARRAYS}
