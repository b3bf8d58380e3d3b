"""The ``progressgym`` command line: options generated from the config dataclasses, help, one-line errors."""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from progressgym_env.cli import build_parser, main
from progressgym_env.cli.dataclass_args import (
    ArgumentParser,
    add_dataclass_arguments,
    clean_text,
    dataclass_from_args,
)
from progressgym_env.errors import MissingExtraError

COMMANDS = (
    "benchmark",
    "leaderboard",
    "make-proxies",
    "measure-history",
    "perf",
    "train",
)


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def _parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


def _one_error_line(text: str, command: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert lines[0].startswith(f"progressgym {command}: error: "), lines[0]
    assert "Traceback" not in text
    return lines[0]


# ------------------------------------------------------------------------------------------- help


def test_every_subcommand_is_discovered() -> None:
    assert set(COMMANDS) <= set(_subparsers(build_parser()))


@pytest.mark.parametrize("command", sorted(_subparsers(build_parser())))
def test_help_shows_every_default_and_clean_text(command: str) -> None:
    parser = _subparsers(build_parser())[command]
    text = parser.format_help()
    formatter = parser._get_formatter()
    for action in parser._actions:
        if (
            action.help in (None, argparse.SUPPRESS)
            or isinstance(action, argparse._HelpAction)
            or action.required
            or not action.option_strings
        ):
            continue
        shown = formatter._get_help_string(action)  # the help line as printed (the formatter adds the default)
        assert "(default: " in shown, f"{command} {action.option_strings} shows no default"
    for markup in (":mod:", ":func:", ":class:", ":meth:", "``", ":param"):
        assert markup not in text, f"{command} --help shows {markup!r}"


def test_make_proxies_help_is_prose() -> None:
    text = " ".join(_subparsers(build_parser())["make-proxies"].format_help().split())
    assert "The logic lives in progressgym_env.llm.synthetic_proxies" in text
    assert "DIR/history.json" in text


def test_help_lists_the_generated_options() -> None:
    parsers = _subparsers(build_parser())
    benchmark = parsers["benchmark"].format_help()
    for flag in (
        "--query-budget",
        "--agents",
        "--seeds",
        "--no-wandb",
        "--no-plots",
        "--no-progress",
    ):
        assert flag in benchmark
    assert "(default: follow,predict1,predict2,coevolve)" in " ".join(benchmark.split())
    train = parsers["train"].format_help()
    assert "--timesteps" in train and "--total-timesteps" in train and "--no-progress-bar" in train
    assert "--sizes" in parsers["perf"].format_help() and "--json" in parsers["perf"].format_help()


def test_clean_text_unwraps_roles_and_literals() -> None:
    text = "Uses :func:`~pkg.mod.build` and :mod:`pkg.mod`,\n  ``x = 1`` and :class:`the env <pkg.Env>`."
    assert clean_text(text) == "Uses build and pkg.mod, x = 1 and the env."


# ------------------------------------------------------------------------- parsed CLI == dataclass


def test_parsed_defaults_equal_the_dataclass_defaults() -> None:
    from agents.train import TrainConfig
    from progressgym_env.benchmark.runner import BenchmarkConfig
    from progressgym_env.cli.measure_history import MeasureHistoryArgs
    from progressgym_env.cli.train import CLI_DEFAULTS
    from progressgym_env.evaluator.config import EvaluatorConfig
    from progressgym_env.llm.synthetic_proxies import SyntheticProxyConfig
    from progressgym_env.perf import PerfConfig

    assert dataclass_from_args(BenchmarkConfig, _parse("benchmark")) == BenchmarkConfig()
    assert dataclass_from_args(PerfConfig, _parse("perf")) == PerfConfig()
    assert dataclass_from_args(SyntheticProxyConfig, _parse("make-proxies")) == SyntheticProxyConfig()
    assert dataclass_from_args(TrainConfig, _parse("train")) == dataclasses.replace(
        TrainConfig(), **CLI_DEFAULTS
    )
    args = _parse("measure-history", "--models", "a", "b,c", "--out", "h.json")
    assert dataclass_from_args(EvaluatorConfig, args) == EvaluatorConfig(batch_size=64)
    assert dataclass_from_args(MeasureHistoryArgs, args).models == ("a", "b", "c")


def test_benchmark_options_round_trip() -> None:
    from progressgym_env.benchmark.runner import BenchmarkConfig

    args = _parse(
        "benchmark",
        "--agents",
        "static,lifelong",
        "--challenges",
        "predict3,coevolve",
        "--seeds",
        "2",
        "--query-budget",
        "none",
        "--backend-config",
        '{"capacity": 1.5}',
        "--no-wandb",
        "--no-plots",
        "--history",
        "procedural",
    )
    config = dataclass_from_args(BenchmarkConfig, args)
    assert config == BenchmarkConfig(
        agents=["static", "lifelong"],
        challenges=["predict3", "coevolve"],
        seeds=2,
        query_budget=None,
        backend_config={"capacity": 1.5},
        wandb=False,
        plots=False,
        history="procedural",
    )
    assert (
        dataclass_from_args(BenchmarkConfig, _parse("benchmark", "--query-budget", "64")).query_budget == 64
    )


def test_perf_aliases_and_output_options() -> None:
    from progressgym_env.cli.perf import PerfOutputArgs
    from progressgym_env.perf import PerfConfig

    args = _parse(
        "perf",
        "--sizes",
        "1,3",
        "--env-ids",
        "PG-Follow-v0",
        "--json",
        "p.json",
        "--history",
        "x",
    )
    config = dataclass_from_args(PerfConfig, args)
    assert config.vector_sizes == (1, 3) and config.env_ids == ("PG-Follow-v0",)
    output = dataclass_from_args(PerfOutputArgs, args)  # each dataclass is parsed whole, at its own dest
    assert output.json == "p.json" and output.history == "x"


@dataclass
class _Toy:
    name: str = field(metadata={"help": "Required name."})
    count: int = field(default=3, metadata={"help": "How many."})
    ratio: float | None = field(default=0.5, metadata={"help": "A ratio."})
    tags: tuple[str, ...] = field(default=("a", "b"), metadata={"help": "Tags."})
    sizes: list[int] = field(default_factory=lambda: [1, 2], metadata={"help": "Sizes."})
    extra: dict[str, Any] = field(default_factory=dict, metadata={"help": "Extra 100% JSON."})
    fast: bool = field(default=True, metadata={"help": "Go fast."})
    mode: str = field(default="x", metadata={"help": "Mode.", "choices": ("x", "y")})


def _toy_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="progressgym toy")
    add_dataclass_arguments(parser, _Toy)
    return parser


def test_generated_types_bools_lists_dicts_and_optionals() -> None:
    parser = _toy_parser()
    args = parser.parse_args(
        [
            "--name",
            "n",
            "--ratio",
            "none",
            "--tags",
            "x, y",
            "--sizes",
            "4,5",
            "--extra",
            '{"k": [1]}',
            "--no-fast",
            "--mode",
            "y",
            "--count",
            "7",
        ]
    )
    assert dataclass_from_args(_Toy, args) == _Toy("n", 7, None, ("x", "y"), [4, 5], {"k": [1]}, False, "y")
    assert dataclass_from_args(_Toy, parser.parse_args(["--name", "n"])) == _Toy("n")
    text = " ".join(parser.format_help().split())
    assert "How many. (default: 3)" in text and "A ratio. (default: 0.5; or none)" in text
    assert "Tags. (default: a,b)" in text and "Extra 100% JSON. (default: {})" in text
    assert "--fast, --no-fast Go fast. (default: true)" in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "the following arguments are required: --name"),
        (["--name", "n", "--count", "x"], "argument --count: invalid int value: 'x'"),
        (
            ["--name", "n", "--sizes", "1,a"],
            "expected comma-separated int values, found 'a'",
        ),
        (["--name", "n", "--extra", "[1]"], "expected a JSON object"),
        (["--name", "n", "--extra", "{bad"], "expected a JSON object, found '{bad'"),
        (["--name", "n", "--mode", "z"], "invalid choice: 'z'"),
        (["--name", "n", "--no-fast=1"], "Negative flags cannot be passed a value"),  # the library exits 0 here
    ],
)
def test_usage_errors_are_one_line_with_status_2(argv: list[str], message: str, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _toy_parser().parse_args(argv)
    assert exit_info.value.code == 2
    line = _one_error_line(capsys.readouterr().err, "toy")
    assert message in line


def test_other_annotations_keep_the_librarys_own_form() -> None:
    @dataclass
    class Pair:
        pair: tuple[int, int] = (1, 2)

    parser = ArgumentParser()
    add_dataclass_arguments(parser, Pair)
    assert dataclass_from_args(Pair, parser.parse_args(["--pair", "3", "4"])) == Pair((3, 4))


# ---------------------------------------------------------------------------------- error lines


def test_config_errors_are_one_line_with_status_2(tmp_path: Path, capsys) -> None:
    assert (
        main(
            [
                "benchmark",
                "--challenges",
                "predict9",
                "--out",
                str(tmp_path),
                "--no-wandb",
            ]
        )
        == 2
    )
    assert "unknown challenge 'predict9'" in _one_error_line(capsys.readouterr().err, "benchmark")
    assert main(["train", "--eval-episodes", "-1", "--out", str(tmp_path)]) == 2
    assert "eval_episodes must be >= 0" in _one_error_line(capsys.readouterr().err, "train")
    assert main(["perf", "--clock", "sundial"]) == 1  # PerfConfig raises a plain ValueError
    assert "clock must be one of" in _one_error_line(capsys.readouterr().err, "perf")


def test_argparse_errors_of_subcommands_are_one_line(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["benchmark", "--seeds", "many"])
    assert exit_info.value.code == 2
    assert "invalid int value: 'many'" in _one_error_line(capsys.readouterr().err, "benchmark")


def test_failures_are_one_line_with_status_1(tmp_path: Path, capsys) -> None:
    assert main(["leaderboard", str(tmp_path)]) == 1
    assert "no results.json" in _one_error_line(capsys.readouterr().err, "leaderboard")
    assert (
        main(
            [
                "benchmark",
                "--history",
                str(tmp_path / "nope.json"),
                "--out",
                str(tmp_path / "o"),
                "--no-wandb",
                "--no-progress",
                "--agents",
                "static",
                "--challenges",
                "follow",
            ]
        )
        == 1
    )
    _one_error_line(capsys.readouterr().err, "benchmark")


def test_a_missing_module_names_the_extra(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from progressgym_env.cli import leaderboard

    def missing(args: argparse.Namespace) -> int:
        raise ModuleNotFoundError("No module named 'wandb'", name="wandb")

    monkeypatch.setattr(leaderboard, "run", missing)
    assert main(["leaderboard", "x"]) == 1
    line = _one_error_line(capsys.readouterr().err, "leaderboard")
    assert "pip install 'progressgym_env[wandb]'" in line
    error = MissingExtraError("plots", "render", "matplotlib")
    assert isinstance(error, ImportError) and "pip install 'progressgym_env[render]'" in str(error)


def test_ctrl_c_in_train_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys) -> None:
    import agents.train

    def interrupted(config: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(agents.train, "train", interrupted)
    assert main(["train", "--out", str(tmp_path), "--no-progress-bar"]) == 130
    line = _one_error_line(capsys.readouterr().err, "train")
    assert "interrupted (Ctrl-C); no model was saved yet" in line


def test_ctrl_c_keeps_the_model_trained_so_far(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys
) -> None:
    sb3 = pytest.importorskip("stable_baselines3")
    real_learn = sb3.A2C.learn

    def learn_then_interrupt(self: Any, total_timesteps: int, **kwargs: Any) -> Any:
        real_learn(self, total_timesteps=40, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(sb3.A2C, "learn", learn_then_interrupt)
    code = main(
        [
            "train",
            "--algo",
            "a2c",
            "--env",
            "follow",
            "--timesteps",
            "1000",
            "--out",
            str(tmp_path),
            "--no-progress-bar",
            "--eval-episodes",
            "0",
        ]
    )
    assert code == 130
    line = _one_error_line(capsys.readouterr().err, "train")
    assert f"kept {tmp_path / 'last_model.zip'}" in line
    assert f"{tmp_path / 'config.json'}" in line and "at step 512 of 1000" in line
    assert "re-run the same command with --resume" in line
    from stable_baselines3 import A2C

    model = A2C.load(str(tmp_path / "last_model.zip"))
    assert 40 <= model.num_timesteps < 1000


def test_train_summary_is_one_line() -> None:
    from agents.train import TrainConfig
    from progressgym_env.cli.train import summary_line

    summary = {
        "model_path": "runs/m/model.zip",
        "train_seconds": 12.5,
        "eval_episodes": 5,
        "eval_final_score_mean": 0.98921,
        "eval_final_score_std": 0.0033,
        "eval_normalized_score_mean": 0.75,
        "eval_normalized_score_std": 0.031,
    }
    line = summary_line(
        TrainConfig(),
        {
            **summary,
            "total_timesteps": 2048,
            "validation_best_normalized_score": 0.5,
            "validation_best_timestep": 1024,
        },
    )
    assert "\n" not in line
    assert line == (
        "ppo on follow (seed 0): 2048 steps in 12.5 s, saved runs/m/model.zip; validation "
        "normalized_score +0.500 (best at step 1024); corpus history, 5 episodes: "
        "final_score 0.9892 ± 0.0033, normalized_score +0.750 ± 0.031"
    )


# ------------------------------------------------------------------------------------ challenges


def test_every_predict_horizon_is_a_challenge() -> None:
    from progressgym_env.benchmark.challenges import (
        CHALLENGES,
        default_challenges,
        get_challenge,
    )
    from progressgym_env.benchmark.runner import BenchmarkConfig

    assert list(CHALLENGES) == [
        "follow",
        *(f"predict{k}" for k in range(1, 8)),
        "coevolve",
        "society",
        "society_m2_g8_fixed",
        "society_m2_g8_adaptive",
    ]
    assert get_challenge("predict7").kwargs == {"timesteps_ahead": 7}
    assert get_challenge("predict4").title == "PG-Predict (k=4)"
    assert default_challenges() == ("follow", "predict1", "predict2", "coevolve")
    assert BenchmarkConfig().challenges == list(default_challenges())


def test_predict3_runs_in_the_benchmark(tmp_path: Path, capsys) -> None:
    from progressgym_env.benchmark.results import load_results

    code = main(
        [
            "benchmark",
            "--agents",
            "lifelong,static",
            "--challenges",
            "predict3",
            "--seeds",
            "1",
            "--out",
            str(tmp_path),
            "--no-wandb",
            "--no-plots",
            "--no-progress",
            "--query-budget",
            "none",
        ]
    )
    assert code == 0
    assert "PG-Predict (k=3)" in capsys.readouterr().out
    runs = load_results(tmp_path / "results.json")
    assert sorted(r["agent"] for r in runs) == ["lifelong", "static"]
    for run in runs:
        assert run["challenge"] == "predict3"
        assert len(run["episode_record"]["rewards"]) == 8 - 3  # k = 3: five scored centuries


# ----------------------------------------------------------------------------------- import cost


def test_building_the_cli_imports_no_heavy_library() -> None:
    code = (
        "import sys; from progressgym_env.cli import build_parser; build_parser()\n"
        "heavy = [m for m in ('torch', 'transformers', 'trl', 'stable_baselines3', 'matplotlib', 'wandb') "
        "if m in sys.modules]\n"
        "print(heavy)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert done.stdout.strip() == "[]"


# -- moved from test_faults.py: benchmark CLI errors are one line --

import json
import os


def _exit_code(argv: list[str]) -> int:
    """``progressgym argv``'s exit status (argparse errors exit through SystemExit)."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--history", "missing.csv"], "history file 'missing.csv' does not exist"),
        (["--backend-config", "{bad"], "expected a JSON object"),
        (["--backend-config", '{"capacity": "2"}'], "capacity must be a number"),
        (["--out", "FILE"], "is a file, not a folder"),
        (["--out", "FILE/sub"], "cannot write benchmark results in"),
    ],
)
def test_benchmark_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                                           message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "FILE").write_text("")
    argv = ["benchmark", "--agents", "static", "--challenges", "follow", "--seeds", "1", "--no-wandb",
            "--no-progress", *(["--out", "out"] if "--out" not in args else []), *args]
    assert _exit_code(argv) in (1, 2)
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_out_folder_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    assert main(["benchmark", "--agents", "static", "--challenges", "follow", "--seeds", "1", "--no-wandb",
                 "--no-progress", "--out", str(out)]) == 1
    assert "cannot write benchmark results" in capsys.readouterr().err


def test_a_bad_seed_in_results_is_one_line(tmp_path: Path, saved: dict[str, Any],
                                           capsys: pytest.CaptureFixture[str]) -> None:
    data = json.loads(json.dumps(saved))
    data["runs"][0]["seed"] = 1.5
    (tmp_path / "results.json").write_text(json.dumps(data))
    for argv in (["leaderboard", str(tmp_path)],
                 ["benchmark", "--agents", "static", "--challenges", "follow", "--seeds", "1", "--no-wandb",
                  "--no-progress", "--out", str(tmp_path)]):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert "run 0 has seed 1.5, not an int >= 0" in err and len(err.strip().splitlines()) == 1


def test_ctrl_c_during_start_up_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    import progressgym_env.cli as cli

    def interrupted() -> Any:
        raise KeyboardInterrupt

    monkeypatch.delenv("PROGRESSGYM_TRACEBACK", raising=False)
    monkeypatch.setattr(cli, "build_parser", interrupted)
    assert cli.main(["benchmark"]) == 130
    err = capsys.readouterr().err
    assert err.strip() == "progressgym: error: interrupted (Ctrl-C) while starting; nothing was run"
