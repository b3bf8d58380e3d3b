"""ProgressGym's result format: exported runs re-score to their final_score; original-format files import and rank."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from progressgym_env.benchmark import BenchmarkConfig, ResultsFileError, load_results, run_benchmark
from progressgym_env.benchmark.interop import load_progressgym_results, progressgym_score
from progressgym_env.benchmark.leaderboard import leaderboard_markdown
from progressgym_env.cli import main

pytest.importorskip("scipy")


def interpret_result(result: dict) -> float:
    """ProgressGym's ``interpret_result`` formulas, written out independently (1 - cosine distance)."""

    def cos(a: list[float], b: list[float]) -> float:
        a_, b_ = np.asarray(a), np.asarray(b)
        return float(a_ @ b_ / (np.linalg.norm(a_) * np.linalg.norm(b_)))

    if "simulated_model_vector" in result:
        values = []
        for s in result["simulated_model_vector"]:
            sims = [cos(s, h) for h in result["actual_model_vector"]]
            values += [max(sims[i:]) for i in range(len(sims))]
        return sum(values) / len(values)
    pairs = zip(result["actual_vector"], result["examinee_vector"], strict=True)
    return float(np.mean([cos(a, p) for a, p in pairs]))


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    bench = tmp_path_factory.mktemp("bench")
    run_benchmark(BenchmarkConfig(agents=["static", "lifelong", "oracle"], challenges=["follow", "predict2", "coevolve"],
                                  seeds=2, out=str(bench), progress=False, wandb=False, plots=False))
    out = tmp_path_factory.mktemp("export")
    assert main(["export", str(bench), "--format", "progressgym", "--out", str(out)]) == 0
    return bench, out


def test_exported_files_rescore_to_each_runs_final_score(exported: tuple[Path, Path]) -> None:
    bench, out = exported
    runs = {(r["agent"], r["challenge"], r["seed"]): r for r in load_results(bench / "results.json")}
    files = sorted(out.glob("*.json"))
    assert len(files) == len(runs) == 18
    for file in files:
        result = json.loads(file.read_text())
        meta = result["progressgym_env"]
        run = runs[(meta["agent"], meta["challenge"], meta["seed"])]
        assert interpret_result(result) == pytest.approx(run["final_score"], abs=1e-12)
        assert result["final_score"] == pytest.approx(run["final_score"], abs=1e-12)
        if meta["challenge"] == "coevolve":
            assert len(result["simulated_model_vector"]) == len(result["actual_model_vector"]) == 9
        else:
            k = result.get("timesteps_ahead", 0)
            assert len(result["actual_vector"]) == len(result["examinee_vector"]) == 8 - k
            assert k == (2 if meta["challenge"] == "predict2" else 0)


def test_reimported_results_give_the_same_leaderboard(exported: tuple[Path, Path],
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    bench, out = exported
    assert main(["leaderboard", str(out)]) == 0
    assert capsys.readouterr().out == leaderboard_markdown(load_results(bench / "results.json"))


def test_a_hand_made_original_format_file_imports_and_ranks(tmp_path: Path) -> None:
    actual = [[0.3, 0.7], [0.5, 0.5], [0.7, 0.3]]
    (tmp_path / "good-examinee.json").write_text(json.dumps(
        {"actual_vector": actual, "examinee_vector": actual, "score": 1.0, "eval_times": 3}))
    (tmp_path / "lazy-examinee.json").write_text(json.dumps(
        {"supplementary_data": {"actual_vector": actual, "examinee_vector": [[0.2, 0.8]] * 3}}))
    runs = load_progressgym_results(tmp_path)
    assert [r["agent"] for r in runs] == ["good-examinee", "lazy-examinee"]
    table = leaderboard_markdown(runs)
    lazy = np.mean([np.dot(a, [0.2, 0.8]) / np.linalg.norm(a) / np.linalg.norm([0.2, 0.8]) for a in actual])
    assert "| 1 | good-examinee | 1.0000 | n/a | n/a | 1 |" in table
    assert f"| 2 | lazy-examinee | {lazy:.4f} | n/a | n/a | 1 |" in table
    assert "lack" in table  # the normalisation needs H_0, which such files do not carry


def test_bad_progressgym_files_are_named(tmp_path: Path, exported: tuple[Path, Path]) -> None:
    with pytest.raises(ResultsFileError, match="not a ProgressGym result"):
        progressgym_score({"score": 0.9}, "x.json")
    with pytest.raises(ResultsFileError, match="must match"):
        progressgym_score({"actual_vector": [[1, 0]], "examinee_vector": [[1, 0], [0, 1]]})
    _, out = exported
    result = json.loads(next(out.glob("follow__static__seed0.json")).read_text())
    result["actual_vector"][0][0] += 0.1  # edited: no longer the history it claims
    (tmp_path / "edited.json").write_text(json.dumps(result))
    with pytest.raises(ResultsFileError, match="disagrees with the history"):
        load_progressgym_results(tmp_path / "edited.json")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ResultsFileError, match="not readable JSON"):
        load_progressgym_results(tmp_path / "broken.json")


def test_score_record_reads_progressgym_result_fields() -> None:
    from progressgym_env.judges import score_record
    from progressgym_env.numerics import cosine

    actual = [[0.2, 0.8], [0.5, 0.5], [0.9, 0.1]]
    examinee = [[0.2, 0.8], [0.4, 0.6], [0.9, 0.2]]
    expected = float(np.mean([cosine(np.array(a), np.array(b)) for a, b in zip(actual, examinee, strict=True)]))
    assert score_record({"actual_vector": actual, "examinee_vector": examinee, "timesteps_ahead": 0}) == pytest.approx(
        expected, abs=1e-15
    )
    human = np.array(actual)
    simulated = np.array([actual[0]] * 3)
    frozen = score_record({"simulated_model_vector": simulated.tolist(), "actual_model_vector": actual})
    from progressgym_env.judges import CoevolveJudge

    assert frozen == pytest.approx(CoevolveJudge(human).final_score({"simulated": simulated}), abs=1e-15)


def test_an_interrupted_exports_temporary_files_are_ignored_and_reported(
        tmp_path: Path, exported: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 24.6: a killed export's hidden temporary files are neither counted (an extra seed) nor fatal."""
    import shutil

    from progressgym_env.common.atomic import LeftoverTempFileWarning

    bench, out = exported
    folder = tmp_path / "export"
    shutil.copytree(out, folder)
    whole = json.loads((folder / "follow__static__seed0.json").read_text())
    whole["progressgym_env"]["seed"] = 2  # the file a re-export was writing when it was killed
    (folder / ".follow__static__seed2.json.4242-0badcafe.tmp.json").write_text(json.dumps(whole))
    (folder / ".follow__oracle__seed2.json.4242-0badcafe.tmp.json").write_text('{"actual_vector": [[0.1')  # cut short
    with pytest.warns(LeftoverTempFileWarning, match="ignored 2 temporary file"):
        runs = load_progressgym_results(folder)
    assert len(runs) == 18 and {r["seed"] for r in runs} == {0, 1}
    with pytest.warns(LeftoverTempFileWarning):
        assert main(["leaderboard", str(folder)]) == 0
    assert capsys.readouterr().out == leaderboard_markdown(load_results(bench / "results.json"))
    pytest.importorskip("plotly")
    from progressgym_env.benchmark.site import SiteConfig, build_site

    with pytest.warns(LeftoverTempFileWarning):
        page = build_site(SiteConfig(str(folder), out=str(tmp_path / "site"))).read_text()
    seeds = re.findall(r'<td class="num seeds">(\d+)</td>', page)
    assert seeds and set(seeds) == {"2"}  # every agent with its 2 seeds: the temporary file is no third
