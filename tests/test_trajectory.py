"""Trajectory files (progressgym_env/trajectory.py) are parsed strictly: Excel's BOM and CRLF are read,
duplicate columns or keys, cut rows, century gaps, non-numbers and deep nesting are refused naming the problem.

Moved from ``tests/test_faults.py`` (the fault audit's trajectory-file cases); the round trip and the
first malformed-file cases are in ``tests/test_history.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from progressgym_env.errors import HistoryFormatError
from progressgym_env.trajectory import corpus_history, load_history_file, save_history


def test_trajectory_files_strict(tmp_path: Path) -> None:
    csv_text = save_history(corpus_history(), tmp_path / "h.csv").read_text()
    lines = csv_text.splitlines(keepends=True)

    bom = tmp_path / "excel.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + csv_text.replace("\n", "\r\n").encode())  # Excel: BOM + CRLF
    np.testing.assert_array_equal(load_history_file(bom).values, corpus_history().values)

    cases = {
        "dup.csv": (lines[0].rstrip("\n") + ",religion\n" + "".join(line.rstrip("\n") + ",0.5\n" for line in lines[1:]),
                    "lists 'religion' twice"),
        "cut.csv": (csv_text[:-8], "looks cut short"),  # a cut mid-row: a field missing
        "gap.csv": (lines[0] + "".join(lines[1:4] + lines[5:]), "13 is followed by"),
        "space.csv": (csv_text.replace("0.438", "0.43 ", 1), "not a number"),
        "under.csv": (csv_text.replace("0.438", "0.4_38", 1), "not a number"),
    }
    cases["gap.csv"] = (lines[0] + "".join(lines[1:3] + lines[4:]), "14 is followed by 16")
    for name, (text, message) in cases.items():
        (tmp_path / name).write_text(text, newline="")
        with pytest.raises(HistoryFormatError, match=message):
            load_history_file(tmp_path / name)

    good = corpus_history().to_dict()
    for change, message in [
        (lambda d: d["values"][1].__setitem__(0, "0.5"), r"values\[1\]\[0\] is '0.5', not a numeric value"),
        (lambda d: d["values"][2].__setitem__(3, True), r"values\[2\]\[3\] is True"),
        (lambda d: d.__setitem__("centuries", "13-21"), "'centuries' must be a list of ints"),
        (lambda d: d.__setitem__("centuries", [13.0 + i for i in range(9)]), r"centuries\[0\] is 13.0, not an int"),
        (lambda d: d.__setitem__("centuries", list(range(13, 22))[::-1]), "count up by one"),
        (lambda d: d.__setitem__("provenance", ["a"]), "'provenance' must be an object"),
        (lambda d: d.__setitem__("provenance", {"a": [[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]}), "nested more than"),
        (lambda d: d.__setitem__("value_space", 5), "'value_space' must be a name"),
        (lambda d: d.__setitem__("value_space", "corpus"), "those of the built-in value space 'corpus5'"),
        (lambda d: d.__setitem__("dims", [*d["dims"][:4], d["dims"][0]]), "twice"),
    ]:
        data = json.loads(json.dumps(good))
        change(data)
        (tmp_path / "h.json").write_text(json.dumps(data))
        with pytest.raises(HistoryFormatError, match=message):
            load_history_file(tmp_path / "h.json")
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(HistoryFormatError, match="nested too deeply"):
        load_history_file(tmp_path / "deep.json")
    (tmp_path / "dupkey.json").write_text(json.dumps(good)[:-1] + ', "values": [[0.5]]}')
    with pytest.raises(HistoryFormatError, match="key 'values' appears twice"):
        load_history_file(tmp_path / "dupkey.json")
