"""Histories: the shipped corpus, the procedural generator and trajectory files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from progressgym_env.errors import ConfigError, HistoryFormatError
from progressgym_env.history import (
    FixedHistory,
    History,
    corpus_history,
    load_history_file,
    logit_steps,
    resolve_history,
    save_history,
)
from progressgym_env.procedural import ProceduralHistory, corpus_calibration
from progressgym_env.value_spaces import CORPUS5, MORAL19, ValueSpace

SHARED_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "history" / "corpus_value_trajectory.csv"


def test_corpus_history_is_the_shipped_trajectory() -> None:
    history = corpus_history()
    assert history.values.shape == (9, 5)
    assert history.value_space == CORPUS5
    assert history.centuries == tuple(range(13, 22))
    np.testing.assert_array_equal(history.values[0], [0.438, 0.275, 0.205, 0.369, 0.427])
    np.testing.assert_array_equal(history.values[8], [0.046, 0.254, 0.248, 0.338, 0.359])
    assert history.provenance["source"] == "corpus"
    assert not history.values.flags.writeable


@pytest.mark.skipif(not SHARED_CORPUS.exists(), reason="shared data folder not beside the checkout")
def test_package_copy_matches_shared_data() -> None:
    np.testing.assert_array_equal(load_history_file(SHARED_CORPUS).values, corpus_history().values)


def test_package_data_carries_notice() -> None:
    from importlib import resources

    notice = (resources.files("progressgym_env") / "data" / "NOTICE.md").read_text(encoding="utf-8")
    assert "CC-BY-4.0" in notice and "MoralChoice" in notice and "arXiv:2406.20087" in notice


@pytest.mark.parametrize("suffix", [".json", ".csv"])
def test_trajectory_file_round_trip(tmp_path: Path, suffix: str) -> None:
    history = ProceduralHistory(num_centuries=6, value_space=MORAL19).sample(np.random.default_rng(0))
    path = save_history(history, tmp_path / f"traj{suffix}")
    loaded = load_history_file(path)
    np.testing.assert_array_equal(loaded.values, history.values)  # repr() floats round-trip exactly
    assert loaded.value_space == MORAL19 and loaded.centuries == history.centuries
    if suffix == ".json":
        assert loaded.provenance["source"] == "procedural"
    assert not list(tmp_path.glob(".*tmp"))  # atomic write leaves no temp file


def test_custom_dims_make_a_custom_space(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text("century,a,b\n1,0.1,0.2\n2,0.2,0.3\n3,0.3,0.4\n")
    history = load_history_file(path)
    assert history.value_space == ValueSpace("custom2", ("a", "b")) and history.centuries == (1, 2, 3)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("h.json", "{not json", "not valid JSON"),
        ("h.json", json.dumps({"format": "other"}), "'format' must be 'progressgym-trajectory'"),
        ("h.json", json.dumps({"format": "progressgym-trajectory", "version": 9}), "unsupported trajectory version 9"),
        ("h.json", json.dumps({"format": "progressgym-trajectory", "version": 1, "dims": ["a"]}), "missing required key 'values'"),
        ("h.json", json.dumps({"format": "progressgym-trajectory", "version": 1, "dims": ["a", "b"], "values": [[0.1, 0.2]] * 2}), "at least 3 centuries"),
        ("h.json", json.dumps({"format": "progressgym-trajectory", "version": 1, "dims": ["a"], "values": [[0.1, 0.2]] * 3}), "values have 2 dims but value space"),
        ("h.json", json.dumps({"format": "progressgym-trajectory", "version": 1, "dims": ["a"], "values": [[0.1], [1.2], [0.3]]}), r"step 1, dim 0 is 1\.2, outside \[0, 1\]"),
        ("h.json", json.dumps({"format": "progressgym-trajectory", "version": 1, "dims": ["a"], "values": [[0.1], ["x"], [0.3]]}), "not a numeric"),
        ("h.json", json.dumps({"format": "progressgym-trajectory", "version": 1, "value_space": "moral19", "dims": ["a"], "values": [[0.1]] * 3}), "value_space 'moral19' has dims"),
        ("h.csv", "", "the CSV file is empty"),
        ("h.csv", "year,a\n1,0.1\n", "needs a 'century' column"),
        ("h.csv", "century,a\n1,0.1\n2,0.2,0.5\n3,0.3\n", "line 3 has 3 fields"),
        ("h.csv", "century,a\n1,0.1\n2,nan\n3,0.3\n", "step 1, dim 0 is not finite"),
        ("h.csv", "century,a\n1,0.1\n2,high\n3,0.3\n", "line 3 has a non-numeric field"),
        ("h.txt", "century,a\n", "unknown history file type '.txt'"),
    ],
)
def test_malformed_files_name_file_and_problem(tmp_path: Path, name: str, content: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(HistoryFormatError, match=message) as excinfo:
        load_history_file(path)
    assert str(path) in str(excinfo.value)


def test_missing_file() -> None:
    with pytest.raises(HistoryFormatError, match="does not exist"):
        resolve_history("/nonexistent/history.json")


def test_resolve_history_forms(tmp_path: Path) -> None:
    assert isinstance(resolve_history("corpus"), FixedHistory)
    assert resolve_history("procedural").value_space == CORPUS5
    assert resolve_history("procedural-moral19").value_space == MORAL19
    history = corpus_history()
    assert resolve_history(history).sample(np.random.default_rng(0)) is history
    source = ProceduralHistory(num_centuries=4)
    assert resolve_history(source) is source
    with pytest.raises(HistoryFormatError, match="found int"):
        resolve_history(5)
    with pytest.raises(ConfigError, match="unknown value space"):
        resolve_history("procedural-moral7")


def test_procedural_is_seeded_and_shaped() -> None:
    source = ProceduralHistory(num_centuries=12, value_space=19)
    first = source.sample(np.random.default_rng(42))
    again = source.sample(np.random.default_rng(42))
    other = source.sample(np.random.default_rng(43))
    np.testing.assert_array_equal(first.values, again.values)
    assert not np.allclose(first.values, other.values)
    assert first.values.shape == (12, 19) and np.all((first.values > 0) & (first.values < 1))
    with pytest.raises(ConfigError, match="num_centuries >= 3"):
        ProceduralHistory(num_centuries=2)


def test_calibration_reflects_the_corpus_steps() -> None:
    steps = logit_steps(corpus_history())
    cal = corpus_calibration()
    assert np.abs(steps).max() == pytest.approx(1.7055, abs=1e-3)  # religion 17th -> 18th century
    assert cal.shift_prob == pytest.approx(np.mean(np.abs(steps) > cal.shift_threshold)) == pytest.approx(6 / 40)
    assert cal.shift_threshold == pytest.approx(3 * 1.4826 * np.median(np.abs(steps - np.median(steps))))
    ordinary = steps[np.abs(steps) <= cal.shift_threshold]
    assert cal.step_scale * np.sqrt(2) == pytest.approx(ordinary.std())
    assert cal.shift_excess_mean == pytest.approx(np.mean(np.abs(steps[np.abs(steps) > cal.shift_threshold])) - cal.shift_threshold)


def test_procedural_step_statistics_match_calibration() -> None:
    cal = corpus_calibration()
    rng = np.random.default_rng(0)
    steps = np.concatenate([logit_steps(ProceduralHistory().sample(rng)).ravel() for _ in range(2000)])
    corpus_steps = logit_steps(corpus_history())
    # generated histories have the corpus's typical step, big-step frequency and big-step size
    assert np.median(np.abs(steps)) == pytest.approx(np.median(np.abs(corpus_steps)), rel=0.25)
    big = np.abs(steps) > cal.shift_threshold
    assert big.mean() == pytest.approx(np.mean(np.abs(corpus_steps) > cal.shift_threshold), rel=0.15)
    corpus_big = np.abs(corpus_steps)[np.abs(corpus_steps) > cal.shift_threshold]
    assert np.abs(steps[big]).mean() == pytest.approx(corpus_big.mean(), rel=0.15)


def test_history_rejects_bad_in_memory_values() -> None:
    with pytest.raises(HistoryFormatError, match="T x d table"):
        History(np.zeros(9), CORPUS5)
    with pytest.raises(HistoryFormatError, match="2 centuries given for 3"):
        History(np.full((3, 5), 0.5), CORPUS5, centuries=(1, 2))


# ------------------------------------------------------------------- CSV: line ends, cuts and quotes


def _corpus_csv(tmp_path: Path) -> str:
    return save_history(corpus_history(), tmp_path / "saved.csv").read_text()


@pytest.mark.parametrize("line_end", ["\n", "\r\n"])
def test_csv_without_a_final_line_end_loads_the_same_values(tmp_path: Path, line_end: str) -> None:
    """RFC 4180: the last record may lack its line break (spreadsheet exports often omit it)."""
    text = _corpus_csv(tmp_path).replace("\n", line_end).removesuffix(line_end)
    path = tmp_path / "h.csv"
    path.write_text(text, newline="")
    history = load_history_file(path)
    np.testing.assert_array_equal(history.values, corpus_history().values)
    assert history.centuries == corpus_history().centuries and history.dims == corpus_history().dims


@pytest.mark.parametrize(
    ("cut", "message"),
    [
        (lambda text: text[: text.rindex(",")], r"line 10, the last line, has no line end and has 5 fields where the header has 6: the file looks cut short"),
        (lambda text: text[: text.rindex(",") + 1], "has no line end and ends in '', a partial number: the file looks cut short"),
        (lambda text: text.rstrip("\n")[: text.rstrip("\n").rindex(".") + 1], "ends in '0.', a partial number: the file looks cut short"),
        (lambda text: text.rstrip("\n") + "e-", "ends in .*e-', a partial number: the file looks cut short"),
        (lambda text: text.rstrip("\n") + ',"0.1', "the last line has no line end, so the file looks cut short"),
    ],
)
def test_a_csv_cut_short_is_refused_as_cut_short(tmp_path: Path, cut: Any, message: str) -> None:
    path = tmp_path / "h.csv"
    path.write_text(cut(_corpus_csv(tmp_path)), newline="")
    with pytest.raises(HistoryFormatError, match=message):
        load_history_file(path)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ('century,r"ligion,democracy,liberalism,expectation_for_progress,uncertainty_avoidance', "stray or unbalanced quote"),
        ('century,"religion,democracy,liberalism,expectation_for_progress,uncertainty_avoidance', "stray or unbalanced quote"),
        ('century,re"li"gion,democracy,liberalism,expectation_for_progress,uncertainty_avoidance', r"stray quote in column 2 \('re\"li\"gion'\)"),
        ('century,"re""ligion",democracy,liberalism,expectation_for_progress,uncertainty_avoidance', "stray quote in column 2"),
    ],
)
def test_a_csv_header_with_a_stray_quote_is_refused(tmp_path: Path, header: str, message: str) -> None:
    """The fuzz audit's case: one quote in the header made a value-space dim named ``r"ligion``."""
    text = _corpus_csv(tmp_path)
    path = tmp_path / "h.csv"
    path.write_text(header + "\n" + text.split("\n", 1)[1], newline="")
    with pytest.raises(HistoryFormatError, match=message) as excinfo:
        load_history_file(path)
    assert str(path) in str(excinfo.value)


def test_a_csv_header_may_quote_whole_names(tmp_path: Path) -> None:
    text = _corpus_csv(tmp_path)
    header, rest = text.split("\n", 1)
    path = tmp_path / "h.csv"
    path.write_text(",".join(f'"{name}"' for name in header.split(",")) + "\n" + rest, newline="")
    assert load_history_file(path).dims == corpus_history().dims
