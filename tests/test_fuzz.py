"""Fuzzing bad input with hypothesis: actions, env kwargs, trajectory files, results.json and llm journals.

Every case is run through :func:`classify`, which puts it in one of the fault audit's classes:

- ``accepted``: valid input, accepted; for corrupted files, ``accepted`` means the bytes still say
  the same data (a space changed or removed) and ``variant`` that they form another *valid* file that
  the loader read as exactly what it says (a digit changed into another digit, a CSV cut exactly at a
  line end or between two digits of its last number: no parser can tell those from real data without a
  checksum);
- ``clear``: refused with a :class:`~progressgym_env.errors.ProgressGymError` (our message naming the
  problem);
- ``unclear``: refused with a bare ``ValueError``/``TypeError`` of a library;
- ``crash``: refused with an unrelated exception (``KeyError``, ``AttributeError``, ...);
- ``silent``: invalid input accepted, or accepted as *other* data than the input says (judged by an
  independent oracle per kind of input);
- ``refused_valid``: valid input refused (reported with the others);
- ``hang``: no answer within :data:`HANG_SECONDS`;
- ``data_lost`` (kills only): a run saved before a SIGKILL missing or changed after the re-run, or a
  result or wandb run duplicated.

The default tier runs a few dozen examples per kind (a few seconds); the slow tier
(:func:`test_fault_audit`) runs the big audit, prints the table of counts per class and asserts zero
crashes, silent acceptances and hangs.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import signal
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import progressgym_env  # noqa: F401
from progressgym_env.benchmark.results import ResultsFileError, load_results
from progressgym_env.errors import ProgressGymError
from progressgym_env.trajectory import corpus_history, load_history_file, save_history

HANG_SECONDS = 10
CLASSES = ("accepted", "variant", "clear", "unclear", "crash", "silent", "refused_valid", "hang", "data_lost")
# Examples, seeding and database come from the profile (tests/conftest.py): 25 derandomised examples in
# the default tier, fresh random ones under ``--hypothesis-profile fuzz`` (the slow tier).
FAST = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


class _Hang(BaseException):
    pass


def classify(call: Callable[[], Any], valid: bool | None, same: Callable[[Any], bool] | None = None) -> str:
    """Run ``call`` and name its class.

    :param valid: the oracle's verdict on the input (None: valid iff the result passes ``same``).
    :param same: for accepted input, whether the result is the data the input says.
    """

    def alarm(signum: int, frame: Any) -> None:
        raise _Hang()

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(HANG_SECONDS)
    try:
        result = call()
    except _Hang:
        return "hang"
    except ProgressGymError as exc:
        return "clear" if (valid is False or valid is None) and str(exc) else "refused_valid"
    except (ValueError, TypeError):
        return "unclear" if valid is not True else "refused_valid"
    except Exception:  # noqa: BLE001 - classifying is the point
        return "crash"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    if valid is False:
        return "silent"
    if same is not None and not same(result):
        return "silent"
    return "accepted"


def table(counts: Counter[str], title: str) -> str:
    """One Markdown row of counts per class."""
    total = sum(counts.values())
    return f"| {title} | {total} | " + " | ".join(str(counts.get(c, 0)) for c in CLASSES) + " |"


TABLE_HEADER = ("| input | cases | " + " | ".join(CLASSES) + " |\n|---|---|" + "---|" * len(CLASSES))

# ------------------------------------------------------------------------------------------ actions

D = 5  # corpus5


def action_oracle(action: Any) -> bool:
    """Valid iff it reads as a real (not bool/complex) array of shape (5,), finite, within [-1, 1]."""
    if isinstance(action, np.ma.MaskedArray):
        return False
    if type(action).__module__.startswith("torch"):
        array = action.detach().double().numpy()
    else:
        try:
            array = np.asarray(action)
        except (ValueError, TypeError):
            return False
    if array.dtype.kind not in "fiu" or array.shape != (D,):
        return False
    with np.errstate(over="ignore", invalid="ignore"):
        values = array.astype(np.float64)
    return bool(np.isfinite(values).all() and np.all(np.abs(values) <= 1.0 + 1e-6))


def actions() -> st.SearchStrategy[Any]:
    floats = st.floats(allow_nan=True, allow_infinity=True, width=64)
    small = st.floats(-1.0, 1.0)
    shapes = st.sampled_from([(D,), (D - 1,), (D + 1,), (1, D), (D, 1), (), (0,)])
    dtypes = st.sampled_from([np.float16, np.float32, np.float64, np.int8, np.int64, np.uint8, np.bool_,
                              np.complex64, object, "U3"])

    @st.composite
    def arrays(draw: Any) -> Any:
        shape = draw(shapes)
        dtype = draw(dtypes)
        n = int(np.prod(shape)) if shape else 1
        values = draw(st.lists(st.one_of(small, floats), min_size=n, max_size=n))
        with np.errstate(all="ignore"):
            try:
                return np.array(values).reshape(shape).astype(dtype)
            except (ValueError, TypeError, OverflowError):
                return np.array(values).reshape(shape)

    masked = arrays().map(lambda a: np.ma.masked_array(a, mask=np.zeros(np.shape(a), bool)))
    ragged = st.lists(st.one_of(small, st.lists(small, max_size=3), st.text(max_size=2), st.none()), max_size=7)
    return st.one_of(arrays(), masked, ragged, st.lists(small, min_size=D, max_size=D), st.none(),
                     st.text(max_size=5), st.dictionaries(st.text(max_size=2), small, max_size=2))


def torch_actions() -> st.SearchStrategy[Any]:
    torch = pytest.importorskip("torch")
    dtypes = st.sampled_from([torch.float32, torch.float64, torch.bfloat16, torch.float16, torch.int32])

    @st.composite
    def tensors(draw: Any) -> Any:
        n = draw(st.sampled_from([D, D - 1, D + 1]))
        values = draw(st.lists(st.floats(-1.5, 1.5), min_size=n, max_size=n))
        tensor = torch.tensor(values).to(draw(dtypes))
        if tensor.is_floating_point() and draw(st.booleans()):
            tensor.requires_grad_(True)
        return tensor

    return tensors()


def step_case(env: Any, action: Any) -> str:
    """Classify one step of a fresh episode; a refused action must leave the env's state unchanged."""
    env.reset(seed=0)
    before = env.unwrapped.backend.model_values.copy()
    valid = action_oracle(action)
    outcome = classify(lambda: env.step(action), valid)
    if outcome != "accepted" and not np.array_equal(env.unwrapped.backend.model_values, before):
        return "silent"  # a refused action changed the state
    return outcome


@pytest.fixture(scope="module")
def follow_env() -> Any:
    import gymnasium as gym

    return gym.make("PG-Follow-v0")


@FAST
@given(action=actions())
def test_actions_are_accepted_or_clearly_refused(follow_env: Any, action: Any) -> None:
    assert step_case(follow_env, action) in ("accepted", "clear")


@FAST
@given(data=st.data())
def test_torch_actions_are_accepted_or_clearly_refused(follow_env: Any, data: Any) -> None:
    action = data.draw(torch_actions())
    assert step_case(follow_env, action) in ("accepted", "clear")


# --------------------------------------------------------------------------------------- env kwargs

def kwargs_oracle(kwargs: dict[str, Any]) -> bool:
    """The documented ranges: query_budget an int from d (5) to 2**62 or None, similarity cosine/centered,
    k in 1..7 (on the 9-century corpus), history corpus/procedural, backend_config None or a dict whose
    only key here is capacity, a number in (0, 50]; no other kwarg."""
    for name, value in kwargs.items():
        if name == "query_budget":
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or not D <= value <= 2**62):
                return False
        elif name == "similarity":
            if value not in ("cosine", "centered"):
                return False
        elif name == "timesteps_ahead":
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 7:
                return False
        elif name == "history":
            if value not in ("corpus", "procedural"):
                return False
        elif name == "backend_config":
            if value is None:  # the default config
                continue
            if not isinstance(value, dict) or set(value) - {"capacity"}:
                return False
            cap = value.get("capacity", 2.0)
            if isinstance(cap, bool) or not isinstance(cap, (int, float)) or not 0 < cap <= 50:
                return False
        else:
            return False
    return True


def env_kwargs() -> st.SearchStrategy[dict[str, Any]]:
    anything = st.one_of(st.none(), st.booleans(), st.integers(-3, 10**6), st.floats(allow_nan=True),
                         st.text(max_size=6), st.lists(st.integers(), max_size=2))
    return st.fixed_dictionaries({}, optional={
        "query_budget": st.one_of(st.integers(0, 4096), anything),
        "similarity": st.one_of(st.sampled_from(["cosine", "centered"]), anything),
        "timesteps_ahead": st.one_of(st.integers(1, 7), anything),
        "history": st.one_of(st.sampled_from(["corpus", "procedural"]), anything),
        "backend_config": st.one_of(
            st.fixed_dictionaries({}, optional={"capacity": st.one_of(st.floats(0.01, 50.0), anything),
                                                "bogus": anything}), anything),
        "bogus": anything,
    })


def make_case(kwargs: dict[str, Any]) -> str:
    import gymnasium as gym

    def run() -> None:
        env = gym.make("PG-Predict-v0", disable_env_checker=True, **kwargs)
        env.reset(seed=0)
        env.step(np.zeros(env.action_space.shape, np.float32))

    return classify(run, kwargs_oracle(kwargs))


@FAST
@given(kwargs=env_kwargs())
def test_env_kwargs_are_accepted_or_clearly_refused(kwargs: dict[str, Any]) -> None:
    assert make_case(kwargs) in ("accepted", "clear")


# ---------------------------------------------------------------------------------- trajectory files

_DECIMAL = re.compile(r"^ *[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_INT = re.compile(r"^ *[+-]?\d+$")


def csv_oracle(text: str) -> np.ndarray | None:
    """An independent strict reading of a trajectory CSV: its values, or None if the text is not one."""
    if '"' in text or "\r" in text.replace("\r\n", ""):
        return None
    body = text.replace("\r\n", "\n")
    if not body.endswith("\n") and not body[-1:].isdigit():  # RFC 4180: the last line end is optional,
        return None  # but an unterminated last line must end in a whole number (else: cut short)
    lines = [line for line in body.removesuffix("\n").split("\n") if line.strip(" ,\t")]
    if len(lines) < 4:
        return None
    header = [c.strip() for c in lines[0].split(",")]
    if "century" not in header or len(set(header)) != len(header) or "" in header:
        return None
    meta = {"century", "year_start", "year_end"}
    dims = [i for i, name in enumerate(header) if name not in meta]
    if not dims:
        return None
    rows, centuries = [], []
    for line in lines[1:]:
        cells = line.split(",")
        if len(cells) != len(header):
            return None
        for i, name in enumerate(header):
            if name in meta and not _INT.match(cells[i]):
                return None
        if ("year_start" in header and "year_end" in header
                and int(cells[header.index("year_start")]) > int(cells[header.index("year_end")])):
            return None
        if not all(_DECIMAL.match(cells[i]) for i in dims):
            return None
        centuries.append(int(cells[header.index("century")]))
        rows.append([float(cells[i]) for i in dims])
    values = np.array(rows)
    if not (np.isfinite(values).all() and (values >= 0).all() and (values <= 1).all()):
        return None
    if any(b != a + 1 for a, b in itertools.pairwise(centuries)):
        return None
    return values


def json_oracle(text: str) -> np.ndarray | None:
    """An independent strict reading of a trajectory JSON: its values, or None if the text is not one."""
    try:
        pairs_ok = True

        def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
            nonlocal pairs_ok
            keys = [k for k, _ in pairs]
            pairs_ok &= len(keys) == len(set(keys))
            return dict(pairs)

        data = json.loads(text, object_pairs_hook=hook)
    except (ValueError, RecursionError):
        return None
    if not pairs_ok or not isinstance(data, dict):
        return None
    if data.get("format") != "progressgym-trajectory" or data.get("version") != 1 or isinstance(data.get("version"), bool):
        return None
    dims, values = data.get("dims"), data.get("values")
    if not isinstance(dims, list) or not dims or not all(isinstance(d, str) for d in dims) or len(set(dims)) != len(dims):
        return None
    if data.get("value_space") not in (None, "corpus5") or (data.get("value_space") == "corpus5"
                                                            and dims != list(corpus_history().dims)):
        return None
    if not isinstance(values, list) or len(values) < 3:
        return None
    for row in values:
        if not isinstance(row, list) or len(row) != len(dims):
            return None
        for v in row:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not (math.isfinite(v) and 0 <= v <= 1):
                return None
    centuries = data.get("centuries")
    if centuries is not None:
        if not isinstance(centuries, list) or (centuries and len(centuries) != len(values)):
            return None
        if not all(isinstance(c, int) and not isinstance(c, bool) for c in centuries):
            return None
        if any(b != a + 1 for a, b in itertools.pairwise(centuries)):
            return None
    if data.get("provenance") is not None and not isinstance(data["provenance"], dict):
        return None
    return np.array(values, dtype=np.float64)


def trajectory_case(path: Path, content: bytes, original: np.ndarray | None = None) -> str:
    """Write ``content`` to ``path`` and classify loading it against the oracle of its format.

    :param original: the values before corruption: an accepted file with other values is a ``variant``.
    """
    path.write_bytes(content)
    try:
        text: str | None = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = None
    oracle = csv_oracle if path.suffix == ".csv" else json_oracle
    expected = oracle(text) if text is not None else None
    outcome = classify(lambda: load_history_file(path), expected is not None,
                       lambda h: expected is not None and np.array_equal(h.values, expected))
    if outcome == "accepted" and original is not None and expected is not None and (
            expected.shape != original.shape or not np.array_equal(expected, original)):
        return "variant"
    return outcome


@pytest.fixture(scope="module")
def valid_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("valid-trajectories")
    history = corpus_history()
    return {suffix: save_history(history, folder / f"h{suffix}").read_bytes() for suffix in (".csv", ".json")}


def corruptions(original: bytes) -> st.SearchStrategy[bytes]:
    """One byte replaced, inserted or deleted, a cut anywhere, or a few bytes replaced at once."""
    n = len(original)
    byte = st.integers(0, 255).map(lambda b: bytes([b]))
    printable = st.sampled_from([bytes([c]) for c in b'0123456789.,-+eE \n"{}[]:ntfx\xef'])
    pos = st.integers(0, n - 1)
    replace = st.tuples(pos, st.one_of(byte, printable)).map(lambda a: original[: a[0]] + a[1] + original[a[0] + 1:])
    insert = st.tuples(pos, st.one_of(byte, printable)).map(lambda a: original[: a[0]] + a[1] + original[a[0]:])
    delete = pos.map(lambda i: original[:i] + original[i + 1:])
    cut = st.integers(0, n - 1).map(lambda i: original[:i])
    return st.one_of(replace, insert, delete, cut)


@FAST
@given(data=st.data())
def test_corrupt_trajectory_files_are_never_read_as_other_data(tmp_path: Path, valid_files: dict[str, bytes],
                                                              data: Any) -> None:
    suffix = data.draw(st.sampled_from([".csv", ".json"]))
    content = data.draw(corruptions(valid_files[suffix]))
    assert trajectory_case(tmp_path / f"h{suffix}", content) in ("accepted", "clear")


# -------------------------------------------------------------------------------------- results.json

@pytest.fixture(scope="module")
def results_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A small valid results.json (static and lifelong on Follow and Coevolve, 1 seed)."""
    from progressgym_env.benchmark import BenchmarkConfig, run_benchmark

    out = tmp_path_factory.mktemp("results")
    run_benchmark(BenchmarkConfig(agents=["static", "lifelong"], challenges=["follow", "coevolve"], seeds=1,
                                  out=str(out), wandb=False, plots=False, progress=False))
    return (out / "results.json").read_bytes()


def results_oracle(runs: list[dict[str, Any]]) -> bool:
    """Accepted runs must be sound: int seeds >= 0, finite scores equal to the judges', no duplicate."""
    from progressgym_env.judges import score_record

    keys = set()
    for run in runs:
        seed = run["seed"]
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            return False
        key = (run["agent"], run["challenge"], seed, run.get("model_sha256") or "")
        if key in keys or not math.isfinite(run["final_score"]):
            return False
        keys.add(key)
        if abs(score_record(run["episode_record"]) - run["final_score"]) > 1e-9:
            return False
    return True


def results_case(path: Path, content: bytes, original: list[dict[str, Any]] | None = None) -> str:
    """Classify loading ``content`` as results.json (``variant``: accepted, sound, but not ``original``)."""
    path.write_bytes(content)
    loaded: list[Any] = []

    def load() -> list[dict[str, Any]]:
        loaded.append(load_results(path))
        return loaded[0]

    outcome = classify(load, None, results_oracle)
    if outcome == "accepted" and original is not None and loaded[0] != original:
        return "variant"
    return outcome


@FAST
@given(data=st.data())
def test_corrupt_results_files_are_refused_or_sound(tmp_path: Path, results_bytes: bytes, data: Any) -> None:
    content = data.draw(corruptions(results_bytes))
    assert results_case(tmp_path / "results.json", content) in ("accepted", "clear")


def test_results_errors_are_results_file_errors(tmp_path: Path, results_bytes: bytes) -> None:
    path = tmp_path / "results.json"
    path.write_bytes(results_bytes[: len(results_bytes) // 2])
    with pytest.raises(ResultsFileError, match="not readable JSON"):
        load_results(path)


# ------------------------------------------------------------------------------------- llm journals

def journal_case(folder: Path, content: bytes, original: list[dict[str, Any]] | None = None) -> str:
    """Load a byte-corrupted journal: a refusal must be a CheckpointError; an accepted one must be sound."""
    from progressgym_env.llm.checkpoint import EpisodeJournal, validate_entry

    (folder / "journal.json").write_bytes(content)

    def sound(journal: Any) -> bool:
        try:
            for i, entry in enumerate(journal.entries):
                validate_entry(entry, f"entries[{i}]")
        except ProgressGymError:
            return False
        return True

    from test_checkpoint import HEADER

    loaded: list[Any] = []

    def load() -> Any:
        loaded.append(EpisodeJournal(folder, HEADER))
        return loaded[0]

    outcome = classify(load, None, sound)
    if outcome == "accepted" and original is not None and loaded[0].entries != original:
        return "variant"
    return outcome


@pytest.fixture(scope="module")
def journal_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from test_checkpoint import write_journal

    folder = tmp_path_factory.mktemp("journal")
    write_journal(folder)
    return folder


@FAST
@given(data=st.data())
def test_corrupt_journals_are_checkpoint_errors_or_sound(journal_folder: Path, data: Any) -> None:
    original = (journal_folder / "journal.json").read_bytes()
    try:
        assert journal_case(journal_folder, data.draw(corruptions(original))) in ("accepted", "clear")
    finally:
        (journal_folder / "journal.json").write_bytes(original)


# ----------------------------------------------------------------------------------------- the audit

@pytest.mark.slow
def test_fault_audit(tmp_path: Path, valid_files: dict[str, bytes], results_bytes: bytes, journal_folder: Path,
                     follow_env: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """The big audit: every class counted per kind of input; prints the table (``-s`` shows it)."""
    rng = np.random.default_rng(2026)
    rows: dict[str, Counter[str]] = {}

    def sample(strategy: st.SearchStrategy[Any], n: int, seed: int) -> list[Any]:
        drawn: list[Any] = []

        @settings(max_examples=n, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(strategy)
        def collect(value: Any) -> None:
            drawn.append(value)

        collect()
        return drawn

    rows["actions (numpy, lists, masked, ragged)"] = Counter(step_case(follow_env, a) for a in sample(actions(), 1500, 0))
    try:
        rows["actions (torch, bf16, requires_grad)"] = Counter(
            step_case(follow_env, a) for a in sample(torch_actions(), 300, 1))
    except pytest.skip.Exception:
        pass
    rows["env kwargs"] = Counter(make_case(k) for k in sample(env_kwargs(), 400, 2))
    values = corpus_history().values
    for suffix in (".csv", ".json"):
        original = valid_files[suffix]
        path = tmp_path / f"h{suffix}"
        single: Counter[str] = Counter()
        for _ in range(600):
            i = int(rng.integers(len(original)))
            single[trajectory_case(path, original[:i] + bytes([int(rng.integers(256))]) + original[i + 1:],
                                   values)] += 1
        for i in range(len(original)):  # every single-byte deletion
            single[trajectory_case(path, original[:i] + original[i + 1:], values)] += 1
        rows[f"trajectory {suffix}: byte replaced/deleted"] = single
        rows[f"trajectory {suffix}: every truncation"] = Counter(
            trajectory_case(path, original[:i], values) for i in range(len(original)))
    path = tmp_path / "results.json"
    runs = json.loads(results_bytes)["runs"]
    counts: Counter[str] = Counter()
    for _ in range(800):
        i = int(rng.integers(len(results_bytes)))
        counts[results_case(path, results_bytes[:i] + bytes([int(rng.integers(32, 127))]) + results_bytes[i + 1:],
                            runs)] += 1
    for i in rng.integers(len(results_bytes), size=200):
        counts[results_case(path, results_bytes[: int(i)], runs)] += 1
    rows["results.json: byte replaced, truncated"] = counts
    original = (journal_folder / "journal.json").read_bytes()
    entries = json.loads(original)["entries"]
    counts = Counter()
    try:
        for _ in range(800):
            i = int(rng.integers(len(original)))
            counts[journal_case(journal_folder, original[:i] + bytes([int(rng.integers(32, 127))]) + original[i + 1:],
                                entries)] += 1
        for i in range(0, len(original), 7):
            counts[journal_case(journal_folder, original[:i], entries)] += 1
    finally:
        (journal_folder / "journal.json").write_bytes(original)
    rows["llm journal: byte replaced, truncated"] = counts
    from tests.helpers import KILL_POINTS, kill_and_resume

    kills: Counter[str] = Counter()
    for point in sorted(KILL_POINTS):
        kills[kill_and_resume(tmp_path / f"kill-{point.replace(' ', '-')}", point)] += 1
    rows["benchmark SIGKILLed, then re-run"] = kills
    total: Counter[str] = Counter()
    lines = [TABLE_HEADER]
    for title, row in rows.items():
        lines.append(table(row, title))
        total.update(row)
    lines.append(table(total, "**total**"))
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    for title, row in rows.items():
        assert row["crash"] == row["silent"] == row["hang"] == row["data_lost"] == 0, f"{title}: {dict(row)}"
