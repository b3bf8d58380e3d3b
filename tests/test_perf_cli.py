"""``progressgym perf`` / benchmarks/perf.py: runs end to end and writes the documented JSON keys.

Only structure is checked (timings belong in benchmarks/, not in assertions).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from progressgym_env.cli import main

TINY = ["--sizes", "1,3", "--baseline-envs", "3", "--min-seconds", "0.01", "--repeats", "1"]


def test_perf_cli_writes_the_json_keys(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "perf.json"
    assert main(["perf", "--env-ids", "PG-Follow-v0,PG-Coevolve-v0", *TINY, "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    for key in ("single_steps_per_s", "vector_steps_per_s", "sync_vector_steps_per_s_3", "ratio_vector_vs_sync_3"):
        assert key in result, key
    assert set(result["vector_steps_per_s"]) == {"1", "3"}
    for env_id in ("PG-Follow-v0", "PG-Coevolve-v0"):
        block = result[env_id]
        assert block["single_steps_per_s"] > 0 and block["single_make_steps_per_s"] > 0
        assert block["dummy_vec_steps_per_s_3"] > 0 and block["vector_exact_steps_per_s_3"] > 0
        assert all(v > 0 for v in block["vector_steps_per_s"].values())
        assert len(block["timings"]) == 7 and all(t["peak_mib"] >= 0 for t in block["timings"])
    assert result["vector_steps_per_s"] == result["PG-Follow-v0"]["vector_steps_per_s"]
    reference = result["reference"]  # CartPole-v1 timed in the same run; every PG figure as a ratio to it
    assert reference["env_id"] == "CartPole-v1" and set(reference["vector_steps_per_s"]) == {"1", "3"}
    for env_id in ("PG-Follow-v0", "PG-Coevolve-v0"):
        ratios = result[env_id]["ratio_vs_reference"]
        assert ratios["single"] == result[env_id]["single_steps_per_s"] / reference["single_steps_per_s"]
        assert ratios["vector"]["3"] == result[env_id]["vector_steps_per_s"]["3"] / reference["vector_steps_per_s"]["3"]
    assert result["machine"]["cpu_cores"] >= 1 and result["config"]["clock"] == "cpu"
    table = capsys.readouterr().out
    assert "| PG-Coevolve-v0 | native vector, N=3 |" in table and "SyncVectorEnv" in table
    assert "vs CartPole-v1: single (unwrapped) | vector N=1 | vector N=3 |" in table


def test_benchmark_script_help_runs() -> None:
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "perf.py"
    done = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and "--json" in done.stdout
