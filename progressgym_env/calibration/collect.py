"""Collect calibration transitions on the ``llm`` backend (vector mode), checkpointed and resumable.

Each transition is one century of an env on the llm backend: the agent model's measured vector
before, the designed action (:func:`~progressgym_env.calibration.design.action_schedule`), the
measured vector after, and the evaluator's per-dim standard errors of both measurements. In
PG-Coevolve it also holds the simulated human before and after the century, the history's vector
H_t it was pulled toward and the agent model it was pulled toward (the pulls the fit recovers).

Episodes run one after another from the agent's starting model (``LLMConfig.agent_model``), so
later centuries start from models the earlier updates made: several starting models per run. The
backend checkpoints every call under ``run_dir/llm`` (:mod:`progressgym_env.llm.checkpoint`): a
killed collection re-run with the same arguments replays what was done and goes on live. The
transitions file is rewritten atomically after every century.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from progressgym_env.calibration.design import DEFAULT_SIZES, action_schedule
from progressgym_env.errors import ConfigError
from progressgym_env.judges import FIRST_SCORED_STEP

TRANSITIONS_FORMAT = "progressgym-transitions"
TRANSITIONS_VERSION = 1
TRANSITIONS_FILE = "transitions.json"


@dataclass(frozen=True)
class CollectConfig:
    """What a calibration collection runs (the llm backend's own settings come as an ``LLMConfig``)."""

    challenge: str = field(
        default="follow",
        metadata={"help": "A registered challenge key (follow; coevolve also records the simulated human's pulls)."},
    )
    history: str = field(
        default="procedural-moral19",
        metadata={"help": "The env's history: 'models' (the proxies), 'procedural-moral19' or a moral19 file."},
    )
    episodes: int = field(default=2, metadata={"help": "Episodes (each starts from the agent's starting model)."})
    steps_per_episode: int = field(default=8, metadata={"help": "Centuries per episode (at most the history's)."})
    seed: int = field(default=0, metadata={"help": "Seed of the action schedule and of episode e (seed + e)."})
    sizes: tuple[float, ...] = field(default=DEFAULT_SIZES, metadata={"help": "Pulse sizes |a_i| in (0, 1]."})
    random_share: float = field(default=0.3, metadata={"help": "Share of random actions."})
    zero_share: float = field(default=0.1, metadata={"help": "Share of zero actions (no update)."})

    def __post_init__(self) -> None:
        from progressgym_env.registry import variant

        variant(self.challenge)  # an unknown key is an error listing the registered ones
        for name in ("episodes", "steps_per_episode"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be an int >= 1, got {value!r}")
        object.__setattr__(self, "sizes", tuple(float(s) for s in self.sizes))

    @property
    def transitions(self) -> int:
        return self.episodes * self.steps_per_episode


def _stderr(info: dict[str, Any], key: str, d: int) -> list[float]:
    """The evaluator's per-dim standard errors from the backend's measurement info (NaN where absent)."""
    values = info.get(key)
    return np.full(d, np.nan).tolist() if values is None else np.asarray(values, dtype=np.float64).tolist()


def collect_transitions(
    collect: CollectConfig, llm_config: Any, run_dir: str | Path, *, progress: bool = True, log: Any = None
) -> dict[str, Any]:
    """Run the designed actions on the llm backend; write and return ``run_dir/transitions.json``.

    :param collect: the collection's settings.
    :param llm_config: an ``LLMConfig`` (or dict); its ``run_dir`` is replaced by ``run_dir/llm``.
    :param run_dir: folder of the checkpoints and of the transitions file (re-run to resume).
    :param progress: show a progress bar.
    :param log: called with one line per century (e.g. ``print``), or None.
    :return: the transitions document (see :func:`load_transitions`).
    """
    import gymnasium as gym

    import progressgym_env  # noqa: F401  (registers the env ids)
    from progressgym_env.common.atomic import atomic_write_text
    from progressgym_env.common.progress import ProgressBar
    from progressgym_env.llm.config import LLMConfig

    root = Path(run_dir)
    config = replace(LLMConfig.from_any(llm_config), run_dir=str(root / "llm"))
    from progressgym_env.registry import variant

    challenge = variant(collect.challenge)
    env = gym.make(challenge.env_id, **dict(challenge.kwargs), history=collect.history, backend="llm",
                   backend_config=config)
    unwrapped: Any = env.unwrapped
    backend = unwrapped.backend
    d = int(unwrapped.dim)
    actions, kinds = action_schedule(collect.transitions, d, collect.seed, sizes=collect.sizes,
                                     random_share=collect.random_share, zero_share=collect.zero_share)
    coevolve = bool(unwrapped.simulates_human)  # the simulated human's pulls are recorded too
    document: dict[str, Any] = {
        "format": TRANSITIONS_FORMAT,
        "version": TRANSITIONS_VERSION,
        "provenance": {
            "backend": "llm",
            "base_model": config.agent_id(),
            "llm_config": {k: v for k, v in config.to_dict().items() if k not in ("run_dir",)},
            "llm_config_fingerprint": config.fingerprint(),
            "collect": asdict(collect),
            "value_space": unwrapped.value_space.name,
            "dims": list(unwrapped.value_space.dims),
        },
        "transitions": [],
    }
    out = root / TRANSITIONS_FILE
    k = 0
    started = time.perf_counter()
    try:
        with ProgressBar(total=collect.transitions, label="calibrate: transitions", enabled=progress) as bar, \
                warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for episode in range(collect.episodes):
                _, info = env.reset(seed=collect.seed + episode)
                before = np.array(info["model_values"])
                se_before = _stderr(backend.measurement_info(), "model_stderr", d)
                sim_before = np.array(info["simulated_human_values"]) if coevolve else None
                sim_se_before = _stderr(backend.measurement_info(), "simulated_stderr", d) if coevolve else None
                for step in range(collect.steps_per_episode):
                    action, kind = actions[k], kinds[k]
                    t = FIRST_SCORED_STEP + step
                    bar.status(f"episode {episode} century {t}: {kind}")
                    tick = time.perf_counter()
                    _, _, terminated, _, info = env.step(action)
                    seconds = time.perf_counter() - tick
                    measured = backend.measurement_info()
                    after = np.array(info["model_values"])
                    row: dict[str, Any] = {
                        "episode": episode, "step": step, "century_index": t, "kind": kind,
                        "action": action.astype(np.float64).tolist(),
                        "before": before.tolist(), "after": after.tolist(),
                        "stderr_before": se_before, "stderr_after": _stderr(measured, "model_stderr", d),
                        "seconds": seconds,
                    }
                    if coevolve:
                        sim_after = np.array(info["simulated_human_values"])
                        row.update({
                            "sim_before": sim_before.tolist(), "sim_after": sim_after.tolist(),  # type: ignore[union-attr]
                            "sim_stderr_before": sim_se_before,
                            "sim_stderr_after": _stderr(measured, "simulated_stderr", d),
                            "history_t": np.asarray(unwrapped.history.values[t], dtype=np.float64).tolist(),
                        })
                        sim_before, sim_se_before = sim_after, row["sim_stderr_after"]
                    document["transitions"].append(row)
                    before, se_before = after, row["stderr_after"]
                    k += 1
                    bar.advance()
                    if log is not None:
                        log(f"transition {k}/{collect.transitions}: episode {episode} century {t} {kind} "
                            f"|dz|max {np.abs(_logit(after) - _logit(np.array(row['before']))).max():.3f} ({seconds:.0f} s)")
                    document["provenance"]["seconds"] = time.perf_counter() - started
                    atomic_write_text(out, _dumps(document))
                    if terminated:
                        k += collect.steps_per_episode - step - 1  # the history ended: skip its unused actions
                        break
    finally:
        env.close()
    return document


def _logit(values: np.ndarray) -> np.ndarray:
    from progressgym_env.numerics import logit

    return logit(values)


def _dumps(document: dict[str, Any]) -> str:
    import json

    return json.dumps(document, indent=1, allow_nan=True) + "\n"


def load_transitions(path: str | Path) -> dict[str, Any]:
    """Read a transitions file written by :func:`collect_transitions`.

    :raises ConfigError: not a transitions file, another version, or no transitions.
    """
    import json

    text = Path(path).read_text(encoding="utf-8")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not a transitions file (invalid JSON: {exc})") from exc
    if not isinstance(document, dict) or document.get("format") != TRANSITIONS_FORMAT:
        raise ConfigError(f"{path}: not a {TRANSITIONS_FORMAT} file")
    if document.get("version") != TRANSITIONS_VERSION:
        raise ConfigError(f"{path}: transitions version {document.get('version')!r}, this code reads {TRANSITIONS_VERSION}")
    if not document.get("transitions"):
        raise ConfigError(f"{path}: holds no transitions")
    return document


def merge_transitions(documents: list[dict[str, Any]], names: list[str]) -> dict[str, Any]:
    """One transitions document from several collections with the same settings (e.g. seeds run in parallel).

    :param names: where each document came from (kept in the provenance).
    :raises ConfigError: documents of other value spaces or other llm settings (their fingerprints differ).
    """
    first = documents[0]["provenance"]
    for document, name in zip(documents[1:], names[1:], strict=True):
        other = document["provenance"]
        for key in ("value_space", "dims", "llm_config_fingerprint"):
            if other.get(key) != first.get(key):
                raise ConfigError(f"{name}: its {key} differs from {names[0]}'s; fit collections of one setting only")
    if len(documents) == 1:
        return documents[0]
    merged = {k: v for k, v in documents[0].items() if k != "transitions"}
    merged["provenance"] = {**first, "collect": [d["provenance"].get("collect") for d in documents],
                            "seconds": sum(float(d["provenance"].get("seconds", 0.0)) for d in documents),
                            "sources": list(names)}
    merged["transitions"] = [t for d in documents for t in d["transitions"]]
    return merged
