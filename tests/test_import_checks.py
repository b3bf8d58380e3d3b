"""ProgressGym-format import trusts nothing in a file (issue 24.8): each class of bad file is refused by name,
a run in two files counts once, and special files are never opened."""

from __future__ import annotations

import copy
import json
import os
import warnings
from pathlib import Path
from typing import Any

import pytest

from progressgym_env.benchmark import BenchmarkConfig, ResultsFileError, run_benchmark
from progressgym_env.benchmark.import_checks import DuplicateRunWarning, json_depth
from progressgym_env.benchmark.interop import load_progressgym_results
from progressgym_env.cli import main


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    bench = tmp_path_factory.mktemp("bench")
    run_benchmark(BenchmarkConfig(agents=["lifelong"], challenges=["follow", "coevolve"], seeds=2, out=str(bench),
                                  progress=False, wandb=False, plots=False))
    out = tmp_path_factory.mktemp("export")
    assert main(["export", str(bench), "--out", str(out)]) == 0
    return {p.stem: json.loads(p.read_text()) for p in out.glob("*.json")}


def _meta(result: dict[str, Any], **changes: Any) -> dict[str, Any]:
    result = copy.deepcopy(result)
    result["progressgym_env"].update(changes)
    return result


def _load(folder: Path, files: dict[str, Any]) -> list[dict[str, Any]]:
    folder.mkdir(exist_ok=True)
    for name, content in files.items():
        (folder / name).write_text(content if isinstance(content, str) else json.dumps(content))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an accepted file must load without any warning
        return load_progressgym_results(folder)


def test_good_files_load(exported: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    follow, other_seed = exported["follow__lifelong__seed0"], exported["follow__lifelong__seed1"]
    runs = _load(tmp_path / "a", {"a.json": follow, "b.json": other_seed, "c.json": exported["coevolve__lifelong__seed0"]})
    assert sorted((r["challenge"], r["seed"]) for r in runs) == [("coevolve", 0), ("follow", 0), ("follow", 1)]
    # the same vectors under two seeds the files name are two runs (a deterministic agent repeats itself)
    assert len(_load(tmp_path / "b", {"a.json": follow, "b.json": _meta(follow, seed=1)})) == 2


@pytest.mark.parametrize("seed", [-1, 1.5, True, "0", None, [0]], ids=["negative", "float", "bool", "str", "null", "list"])
def test_bad_seeds_are_refused(exported: dict[str, dict[str, Any]], tmp_path: Path, seed: Any) -> None:
    with pytest.raises(ResultsFileError, match=r"seed must be an int >= 0"):
        _load(tmp_path, {"a.json": _meta(exported["follow__lifelong__seed0"], seed=seed)})


@pytest.mark.parametrize("case", ["short", "long", "repeated", "numbers", "permuted", "string"])
def test_dims_must_name_every_value_dimension(exported: dict[str, dict[str, Any]], tmp_path: Path, case: str) -> None:
    follow = exported["follow__lifelong__seed0"]
    dims = follow["progressgym_env"]["dims"]
    bad = {"short": dims[:-1], "long": [*dims, "extra"], "repeated": [dims[0]] * len(dims),
           "numbers": list(range(len(dims))), "permuted": dims[::-1], "string": "abc"}[case]
    with pytest.raises(ResultsFileError, match=r"dims"):
        _load(tmp_path, {"a.json": _meta(follow, dims=bad)})


@pytest.mark.parametrize("case", ["gap", "strings", "floats", "bools", "short", "long", "descending", "empty"])
def test_centuries_must_be_consecutive_ints_one_per_history_row(
        exported: dict[str, dict[str, Any]], tmp_path: Path, case: str) -> None:
    follow = exported["follow__lifelong__seed0"]
    c = follow["progressgym_env"]["centuries"]
    bad = {"gap": [c[0], *[x + 1 for x in c[1:]]], "strings": [str(x) for x in c], "floats": [x + 0.5 for x in c],
           "bools": [True] * len(c), "short": c[:-1], "long": [*c, c[-1] + 1], "descending": c[::-1], "empty": []}[case]
    with pytest.raises(ResultsFileError, match=r"centuries"):
        _load(tmp_path, {"a.json": _meta(follow, centuries=bad)})


@pytest.mark.parametrize("name", ["a b", "<script>x</script>", "../x", "a" * 1000, 123, "a\nb", ["a"]])
def test_agent_names_follow_the_label_pattern(exported: dict[str, dict[str, Any]], tmp_path: Path, name: Any) -> None:
    with pytest.raises(ResultsFileError, match=r"is not an agent label"):
        _load(tmp_path / "meta", {"a.json": _meta(exported["follow__lifelong__seed0"], agent=name)})
    original = {k: exported["follow__lifelong__seed0"][k] for k in ("actual_vector", "examinee_vector")}
    with pytest.raises(ResultsFileError, match=r"examinee .* is not an agent label"):
        _load(tmp_path / "examinee", {"a.json": {**original, "examinee": name}})


def test_a_settings_labelled_agent_round_trips(exported: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    """The leaderboard's ``agent [query_budget=64]`` labels (issue 24.1) are valid names on re-import."""
    runs = _load(tmp_path, {"a.json": _meta(exported["follow__lifelong__seed0"], agent="lifelong [query_budget=64]")})
    assert runs[0]["agent"] == "lifelong [query_budget=64]"


@pytest.mark.parametrize("meta", [5, [1], {"challenge": "coevolve"}, {"history": 5}, {"model_sha256": "zz"},
                                  {"human": {"a": 1}}], ids=["number", "list", "challenge", "history", "sha", "human"])
def test_metadata_of_the_wrong_shape_is_refused(exported: dict[str, dict[str, Any]], tmp_path: Path, meta: Any) -> None:
    follow = exported["follow__lifelong__seed0"]
    result = _meta(follow, **meta) if isinstance(meta, dict) else {**follow, "progressgym_env": meta}
    with pytest.raises(ResultsFileError):
        _load(tmp_path, {"a.json": result})


def test_one_run_in_two_files_counts_once(exported: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    follow = exported["follow__lifelong__seed0"]
    with pytest.warns(DuplicateRunWarning, match="counted once"):
        runs = load_progressgym_results(_write(tmp_path / "exported", {"a.json": follow, "copy.json": follow}))
    assert [r["seed"] for r in runs] == [0]
    original = {k: follow[k] for k in ("actual_vector", "examinee_vector")}  # no metadata: seed from position
    with pytest.warns(DuplicateRunWarning):
        runs = load_progressgym_results(_write(tmp_path / "original", {"a.json": original, "b.json": original}))
    assert len(runs) == 1
    conflicting = _meta(exported["follow__lifelong__seed1"], seed=0)  # another run claiming seed 0
    with pytest.raises(ResultsFileError, match="different runs with the same agent"):
        _load(tmp_path / "conflict", {"a.json": follow, "b.json": conflicting})


def _write(folder: Path, files: dict[str, Any]) -> Path:
    folder.mkdir()
    for name, content in files.items():
        (folder / name).write_text(json.dumps(content))
    return folder


def test_deep_nesting_is_a_clear_error(exported: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    with pytest.raises(ResultsFileError, match="nested too deeply"):
        _load(tmp_path / "a", {"a.json": "[" * 100_000 + "]" * 100_000})
    nested = json.loads("[" * 500 + "]" * 500)
    with pytest.raises(ResultsFileError, match="nested 33 levels"):
        _load(tmp_path / "b", {"a.json": {**exported["follow__lifelong__seed0"], "extra": nested}})
    assert json_depth([[1], {"a": [2]}]) == 3 and json_depth(5) == 0


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_special_files_are_never_opened(exported: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    """A FIFO named x.json used to block the reader forever: it is refused after a stat, unopened."""
    fifo = tmp_path / "x.json"
    os.mkfifo(fifo)
    with pytest.raises(ResultsFileError, match="is a FIFO, not a regular file"):
        _load_unblocking(fifo, fifo)
    (tmp_path / "a.json").write_text(json.dumps(exported["follow__lifelong__seed0"]))
    with pytest.raises(ResultsFileError, match="x.json is a FIFO"):
        _load_unblocking(tmp_path, fifo)
    os.unlink(tmp_path / "x.json")
    (tmp_path / "x.json").mkdir()
    with pytest.raises(ResultsFileError, match="is a folder"):
        load_progressgym_results(tmp_path)


def _load_unblocking(path: Path, fifo: Path) -> list[dict[str, Any]]:
    """Load ``path`` in a thread; if it blocks on ``fifo`` for 5 s, open the FIFO's other end to free it and fail."""
    import threading

    outcome: dict[str, Any] = {}

    def load() -> None:
        try:
            outcome["runs"] = load_progressgym_results(path)
        except BaseException as exc:  # handed back to the test below
            outcome["error"] = exc

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    thread.join(5.0)
    if thread.is_alive():
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))  # EOF for the blocked reader
        thread.join(5.0)
        pytest.fail(f"reading {path} blocked on the FIFO {fifo.name}")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["runs"]  # type: ignore[no-any-return]
