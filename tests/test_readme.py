"""README's commands run as written after its two set-up commands, and every extra it needs is named.

The fast tests read README.md: every command uses the set-up's ``.venv`` (``.venv/bin/...``: a bare
``progressgym``, ``python`` or ``pip`` is "command not found" or the system's), every ``pip install
".[x]"`` names a real extra, and every extra in pyproject.toml is listed. The slow test runs every shell
block after the set-up one, in order, with bash, in a copy of the repository whose ``.venv`` is a fresh
venv over this test's installed packages (the set-up block itself is checked for shape: CI has just
run it). Training commands run under ``PROGRESSGYM_MAX_TIMESTEPS`` (README documents it), so the
blocks take minutes, not hours.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
SETUP_BLOCK = (
    '# 1. install everything into .venv and run the main job on the embedded default\n'
    'python3 -m venv .venv && .venv/bin/pip install -c constraints.txt -e ".[test]" && .venv/bin/progressgym benchmark\n'
    "\n"
    "# 2. run the tests\n"
    ".venv/bin/python -m pytest -q"
)
SMOKE_ENV = {"PROGRESSGYM_MAX_TIMESTEPS": "1024"}
"""The size caps the slow test runs README's blocks under (README names them)."""
LONG_BLOCKS = {
    "make-proxies --base smollm2-135m-instruct": "SmolLM2 proxies and LLM-mode Follow: about 40 min on 2 cores",
    "--agents static,lifelong-dpo,": "six LLM examinees x three challenges on the tiny world: about 50 min",
}
"""Blocks (by a phrase they hold) that no size cap brings under minutes: run with PROGRESSGYM_README_LLM=1."""
COMMAND = re.compile(r"^\s*(?!#)(\S+)")
BARE = ("progressgym", "python", "python3", "pip", "pip3", "wandb", "ray")


def shell_blocks(text: str) -> list[str]:
    """The contents of README's ```bash blocks, in order."""
    return [m.group(1).strip("\n") for m in re.finditer(r"^```bash\n(.*?)^```", text, re.MULTILINE | re.DOTALL)]


def commands(block: str) -> list[str]:
    """The first word of each command of a block (comments, blank and continuation lines skipped)."""
    words, continued = [], False
    for line in block.splitlines():
        match = COMMAND.match(line)
        if match and not continued:
            words.append(match.group(1))
        continued = line.rstrip().endswith("\\")
    return words


def test_the_setup_block_is_the_two_commands() -> None:
    assert shell_blocks(README.read_text(encoding="utf-8"))[0] == SETUP_BLOCK


def test_every_later_command_runs_from_the_setup_venv() -> None:
    text = README.read_text(encoding="utf-8")
    for block in shell_blocks(text)[1:]:
        for word in commands(block):
            assert word.startswith(".venv/bin/") or word.startswith("CFG="), f"{word!r} in block:\n{block}"
    inline = re.findall(r"`(\S+) [^`]*`", text)
    assert not [w for w in inline if w in BARE], "an inline command without .venv/bin/"


def test_every_extra_is_listed_and_every_named_extra_exists() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    extras = set(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    text = README.read_text(encoding="utf-8")
    assert {e for e in extras if f"`{e}`" not in text} == set()
    named = set(re.findall(r'"\.\[([a-z0-9-]+)\]"', text)) - {"EXTRA"}
    assert named and named <= extras
    for block in shell_blocks(text)[1:]:  # a block using an extra outside [test] installs it first
        if "rl_zoo3" in block:
            assert block.index('".[zoo]"') < block.index("rl_zoo3.train")
        if "--executor ray" in block:
            assert block.index('".[ray]"') < block.index("--executor ray")


def _copy_of_the_repository(dest: Path) -> None:
    """Tracked and untracked-but-not-ignored files: what a clone of this working tree would hold."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)


@pytest.mark.slow
def test_every_readme_block_runs_as_written(tmp_path: Path) -> None:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs a git checkout to copy")
    copy = tmp_path / "repo"
    _copy_of_the_repository(copy)
    # The set-up's .venv: a fresh venv that sees this test's installed packages (a .pth line, searched
    # after the venv's own site-packages, so the copy's editable install wins over this venv's) and holds
    # the copy as its editable install, so `.venv/bin/progressgym` and `-e .` act on the copy.
    env = {**os.environ, **SMOKE_ENV, "WANDB_MODE": "offline", "WANDB_SILENT": "true",
           "MPLBACKEND": "Agg", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    for name in ("PYTHONPATH", "VIRTUAL_ENV"):
        env.pop(name, None)
    subprocess.run([sys.executable, "-m", "venv", str(copy / ".venv")], check=True, env=env)
    venv_site = subprocess.run([str(copy / ".venv/bin/python"), "-c", "import sysconfig; print(sysconfig.get_paths()"
                                "['purelib'])"], capture_output=True, text=True, check=True, env=env).stdout.strip()
    ours = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (Path(venv_site) / "zz_readme_test_packages.pth").write_text("".join(f"{p}\n" for p in ours))
    subprocess.run([str(copy / ".venv/bin/pip"), "install", "--quiet", "--no-deps", "-e",
                    str(copy)], check=True, env=env, cwd=copy)
    # What README's `pip install ".[x]"` lines add to .venv/bin when they install (ray, wandb, ...): here the
    # packages are already seen through the .pth, so their commands are provided as wrappers run by the copy's
    # Python (which imports the copy).
    for script in Path(sys.executable).parent.iterdir():
        target = copy / ".venv" / "bin" / script.name
        first_line = script.read_bytes()[:200].split(b"\n")[0] if script.is_file() else b""
        if not target.exists() and first_line.startswith(b"#!") and b"python" in first_line:
            target.write_text(f'#!/bin/sh\nexec "{copy / ".venv/bin/python"}" "{script}" "$@"\n')
            target.chmod(0o755)
    run_long = os.environ.get("PROGRESSGYM_README_LLM") == "1"
    timings = []
    try:
        for block in shell_blocks(README.read_text(encoding="utf-8"))[1:]:
            long = next((why for phrase, why in LONG_BLOCKS.items() if phrase in block), None)
            if long and not run_long:
                timings.append(f"not run ({long}): {block.splitlines()[0][:60]}")
                continue
            start = time.perf_counter()
            out = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=copy, env=env, capture_output=True,
                                 text=True, timeout=900)
            timings.append(f"{time.perf_counter() - start:6.1f} s: {block.splitlines()[0][:60]}")
            assert out.returncode == 0, f"README block failed:\n{block}\n--- stdout\n{out.stdout[-3000:]}\n" \
                                        f"--- stderr\n{out.stderr[-3000:]}"
    finally:
        if (copy / ".venv/bin/ray").exists():  # a failed Ray block must not leave its head running
            subprocess.run([str(copy / ".venv/bin/ray"), "stop"], env=env, cwd=copy, capture_output=True)
        print("\n" + "\n".join(timings))
