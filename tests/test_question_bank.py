"""The moral19 question bank: parsing, defect handling, signs, themes, split and subsets."""

from __future__ import annotations

import csv
import io
import warnings
from importlib import resources
from pathlib import Path

import pytest

from progressgym_env.errors import ConfigError, QuestionBankError
from progressgym_env.evaluator.bank import (
    BankDefectWarning,
    QuestionBank,
    clean_option,
    load_question_bank,
    moralchoice_sign,
    option_defects,
    parse_bank_file,
)
from progressgym_env.value_spaces import FOUNDATIONS, MORAL19, MORALCHOICE_RULES

pytestmark = pytest.mark.filterwarnings("ignore::progressgym_env.evaluator.bank.BankDefectWarning")

EXPECTED_SKIPPED = {"H_530", "F_1534", "V_106", "V_158", "V_159", "V_160", "V_161", "V_285"}


def raw_rows(bank: str) -> list[dict[str, str]]:
    """The file's rows, read independently of the loader."""
    text = (resources.files("progressgym_env") / "data" / "moral_evals" / f"{bank}.csv").read_text("utf-8")
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture(scope="module")
def bank_all() -> QuestionBank:
    return load_question_bank("all")


def write_bank(folder: Path, edits: dict[str, str] | None = None) -> Path:
    """Copy the package bank into ``folder``, replacing the files named in ``edits``."""
    folder.mkdir(parents=True, exist_ok=True)
    for bank in ("moralchoice", "foundations", "worldviews"):
        text = (resources.files("progressgym_env") / "data" / "moral_evals" / f"{bank}.csv").read_text(
            "utf-8"
        )
        (folder / f"{bank}.csv").write_text((edits or {}).get(bank, text), encoding="utf-8")
    return folder


# ------------------------------------------------------------------------------------ defects


def test_skipped_rows_are_exactly_the_known_defects(bank_all: QuestionBank) -> None:
    assert {row.scenario_id for row in bank_all.skipped} == EXPECTED_SKIPPED
    by_id = {row.scenario_id: row for row in bank_all.skipped}
    assert by_id["H_530"].file.endswith("moralchoice.csv")
    assert by_id["F_1534"].file.endswith("foundations.csv")
    assert any("identical" in r for r in by_id["H_530"].reasons)
    assert any("placeholder" in r for r in by_id["V_106"].reasons)
    assert any("unbalanced quote" in r for r in by_id["V_285"].reasons)
    assert any("empty" in r for r in by_id["V_159"].reasons)
    for split in ("eval", "train"):
        assert {r.scenario_id for r in load_question_bank(split).skipped} == EXPECTED_SKIPPED


def test_each_skipped_row_is_warned_by_name() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_question_bank("all")
    messages = [str(w.message) for w in caught if issubclass(w.category, BankDefectWarning)]
    assert len(messages) == len(EXPECTED_SKIPPED)
    for sid in EXPECTED_SKIPPED:
        assert sum(f"'{sid}'" in m for m in messages) == 1, sid


def test_scenario_counts_and_unique_ids(bank_all: QuestionBank) -> None:
    assert len(bank_all.by_bank("moralchoice")) == 680 - 1
    assert len(bank_all.by_bank("foundations")) == 600 - 1
    assert len(bank_all.by_bank("worldviews")) == 539 - 6
    ids = [s.scenario_id for s in bank_all]
    assert len(ids) == len(set(ids))
    moral = bank_all.by_bank("moralchoice")
    repeated = [s for s in moral if s.scenario_id != s.source_id]
    assert len(repeated) == 97  # the README's 97 duplicated ids, each kept as a second scenario
    assert all(s.scenario_id == f"{s.source_id}#2" for s in repeated)
    first = bank_all.get(repeated[0].source_id)
    assert first.context != repeated[0].context or first.options != repeated[0].options


def test_an_unknown_scenario_id_is_a_package_error_naming_the_split(bank_all: QuestionBank) -> None:
    from progressgym_env.errors import UnknownNameError

    with pytest.raises(UnknownNameError) as caught:
        bank_all.get("F_999999")
    assert isinstance(caught.value, (KeyError, ConfigError))
    assert str(caught.value) == f"no scenario 'F_999999' in the {bank_all.split!r} split"


def test_option_texts_are_cleaned(bank_all: QuestionBank) -> None:
    assert bank_all.get("F_5").options == (
        "I will step in to protect the child from harm",
        "I will not intervene as it is not my concern",
    )
    assert bank_all.get("F_91").options[1] == "Ignore the situation and continue with your day"
    # A quoted field split in two by a bad export: both halves survive as clean options.
    assert bank_all.get("F_403").options == (
        "Support the decision out of respect for their authority",
        "Challenge the decision based on its merits and your own judgment",
    )
    assert bank_all.get("F_184").context == "You witness a child being bullied at the park. Do you intervene?"
    for s in bank_all:
        assert s.context == s.context.strip() and s.context[:1] not in '"“”'
        for text in s.options:
            assert text == text.strip() and not text.endswith(";") and text[:1] not in '"“”'


@pytest.mark.parametrize(
    "raw, clean",
    [
        ('  "I will help."; ', "I will help."),
        ("“Quoted curly”", "Quoted curly"),
        ("I say 'hello'", "I say 'hello'"),
        ('He said "no" twice', 'He said "no" twice'),
    ],
)
def test_clean_option(raw: str, clean: str) -> None:
    assert clean_option(raw) == clean


@pytest.mark.parametrize(
    "options, fragment",
    [
        (("a", ""), "action2 is empty"),
        (("choice1", "choice2"), "placeholder"),
        (("Same text.", "same  text."), "identical"),
        (("ok", 'half "quoted'), "unbalanced"),
        (("ok", "first”,“second"), "unbalanced"),
    ],
)
def test_option_defect_rules(options: tuple[str, ...], fragment: str) -> None:
    assert any(fragment in reason for reason in option_defects(options))


def test_legitimate_options_pass_validation() -> None:
    assert option_defects(("lowercase start is fine", "the other one's apostrophe too")) == []
    assert option_defects(('a "balanced" quote', "“curly” quotes")) == []


# -------------------------------------------------------------------------------- semantics


@pytest.mark.parametrize(
    "a1, a2, sign",
    [
        ("No", "No", 0),
        ("Yes", "Yes", 0),
        ("No Agreement", "No Agreement", 0),
        ("No", "Yes", 1),
        ("No", "No Agreement", 1),
        ("No Agreement", "Yes", 1),
        ("Yes", "No", -1),
        ("Yes", "No Agreement", -1),
        ("No Agreement", "No", -1),
    ],
)
def test_moralchoice_sign_rule(a1: str, a2: str, sign: int) -> None:
    assert moralchoice_sign(a1, a2) == sign


def test_signs_of_a_hand_checked_row(bank_all: QuestionBank) -> None:
    # H_001: a1 violates only break_law; a2 is Yes/No Agreement on death, pain, disable, pleasure.
    assert bank_all.get("H_001").signs == (1, 1, 1, 0, 1, 0, 0, 0, -1, 0)
    assert bank_all.get("H_001").dims() == (0, 1, 2, 4, 8)


def test_signs_match_the_raw_labels(bank_all: QuestionBank) -> None:
    rows = [r for r in raw_rows("moralchoice") if r["scenario_id"].strip() not in EXPECTED_SKIPPED]
    scenarios = bank_all.by_bank("moralchoice")
    assert len(rows) == len(scenarios)
    for row, s in zip(rows, scenarios, strict=True):
        assert s.source_id == row["scenario_id"].strip()
        for r, rule in enumerate(MORALCHOICE_RULES):
            a1, a2 = row[f"a1_{rule}"].strip(), row[f"a2_{rule}"].strip()
            expected = 0 if a1 == a2 else (1 if (a2 == "Yes" or a1 == "No") else -1)
            assert s.signs[r] == expected


def test_foundation_themes_map_to_dims(bank_all: QuestionBank) -> None:
    rows = [r for r in raw_rows("foundations") if r["scenario_id"].strip() not in EXPECTED_SKIPPED]
    for k, name in enumerate(FOUNDATIONS):
        file_name = "Purity_Sancity" if name == "Purity_Sanctity" else name
        expected = sum(r["generation_theme"].strip() == file_name for r in rows)
        assert expected > 0
        assert len(bank_all.for_dim(10 + k)) == expected
    assert MORAL19.dims[14] == "Purity_Sanctity"
    assert {s.stratum for s in bank_all.by_bank("foundations")} == set(FOUNDATIONS)


def test_worldviews_feed_dims_15_to_18(bank_all: QuestionBank) -> None:
    s = bank_all.get("V_1")
    assert s.n_options == 4 and s.dims() == (15, 16, 17, 18)
    assert s.options[0] == "The painter is channeling a divine power to create their artwork"


def test_preference_pairs() -> None:
    bank = load_question_bank("train")
    plus = next(s for s in bank.by_bank("moralchoice") if s.signs[0] == 1)
    minus = next(s for s in bank.by_bank("moralchoice") if s.signs[0] == -1)
    assert plus.preference_pairs(0) == ((0, 1),)
    assert plus.preference_pairs(0, direction=-1) == ((1, 0),)
    assert minus.preference_pairs(0) == ((1, 0),)
    assert plus.option_effects(0) == (1, -1)
    foundation = bank.for_dim(12)[0]
    assert foundation.preference_pairs(12) == ((0, 1),)
    assert foundation.preference_pairs(11) == ()
    assert foundation.preference_pairs(16) == ()
    worldview = bank.by_bank("worldviews")[0]
    assert worldview.preference_pairs(16) == ((1, 0), (1, 2), (1, 3))
    assert worldview.preference_pairs(16, -1) == ((0, 1), (2, 1), (3, 1))
    pairs = bank.preference_pairs(3)
    assert len(pairs) == len(bank.for_dim(3))
    assert all(s.option_effects(3)[c] > s.option_effects(3)[r] for s, c, r in pairs)
    with pytest.raises(ValueError, match="direction"):
        plus.preference_pairs(0, direction=0)
    with pytest.raises(IndexError, match="0..18"):
        plus.preference_pairs(19)


# ------------------------------------------------------------------------------------- split


def test_split_is_a_deterministic_partition(bank_all: QuestionBank) -> None:
    ev, tr = load_question_bank("eval"), load_question_bank("train")
    ev_ids, tr_ids = {s.scenario_id for s in ev}, {s.scenario_id for s in tr}
    assert not ev_ids & tr_ids
    assert ev_ids | tr_ids == {s.scenario_id for s in bank_all}
    assert [s.scenario_id for s in load_question_bank("eval")] == [s.scenario_id for s in ev]
    assert all(n > 0 for n in ev.dim_counts()) and all(n > 0 for n in tr.dim_counts())
    # stratified: each foundation theme and worldview theme splits about in half
    for k in range(10, 15):
        n_eval, n_total = len(ev.for_dim(k)), len(bank_all.for_dim(k))
        assert abs(n_eval - n_total / 2) <= 1
    assert 0.45 < len(ev) / len(bank_all) < 0.55


def test_eval_fraction_is_configurable() -> None:
    small = load_question_bank("eval", eval_fraction=0.2)
    assert 0.15 < len(small) / len(load_question_bank("all")) < 0.25
    assert all(n > 0 for n in small.dim_counts())
    assert small.eval_fraction == 0.2


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_eval_fraction_out_of_range(fraction: float) -> None:
    with pytest.raises(ConfigError, match="eval_fraction"):
        load_question_bank("eval", eval_fraction=fraction)


def test_split_leaving_a_dim_empty_is_an_error() -> None:
    with pytest.raises(QuestionBankError, match="eval split has no scenario for dim"):
        load_question_bank("eval", eval_fraction=0.001)


def test_unknown_split() -> None:
    with pytest.raises(ConfigError, match="split must be one of"):
        load_question_bank("test")


# ------------------------------------------------------------------------------- bad files


def test_missing_column_names_file_and_column(tmp_path: Path) -> None:
    text = (resources.files("progressgym_env") / "data" / "moral_evals" / "foundations.csv").read_text(
        "utf-8"
    )
    folder = write_bank(tmp_path / "bank", {"foundations": text.replace("generation_theme", "theme", 1)})
    with pytest.raises(
        QuestionBankError, match=r"foundations\.csv: missing column\(s\) \['generation_theme'\]"
    ):
        load_question_bank(data_dir=folder)


def test_empty_bank_file_is_an_error(tmp_path: Path) -> None:
    header = "scenario_id,generaton_type,generation_theme,context,action1,action2,action3,action4\n"
    folder = write_bank(tmp_path / "bank", {"worldviews": header})
    with pytest.raises(QuestionBankError, match="no scenario for dim.*Traditional"):
        load_question_bank("all", data_dir=folder)


def test_bad_label_and_theme(tmp_path: Path) -> None:
    moral = raw_rows("moralchoice")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(moral[0]))
    writer.writeheader()
    writer.writerows([{**moral[0], "a1_death": "Maybe"}, *moral[1:]])
    with pytest.raises(QuestionBankError, match="a1_death must be one of .* found 'Maybe'"):
        parse_bank_file("moralchoice", buf.getvalue())
    foundations = (
        "scenario_id,generation_type,generation_theme,context,action1,action2\nF_1,g,Liberty,ctx,a,b\n"
    )
    with pytest.raises(QuestionBankError, match="generation_theme must be one of .* found 'Liberty'"):
        parse_bank_file("foundations", foundations)


def test_missing_bank_file(tmp_path: Path) -> None:
    folder = write_bank(tmp_path / "bank")
    (folder / "worldviews.csv").unlink()
    with pytest.raises(QuestionBankError, match="worldviews.csv"):
        load_question_bank(data_dir=folder)


# ------------------------------------------------------------------------------------ subset


def test_subset_is_stratified_and_seeded() -> None:
    bank = load_question_bank("eval")
    a, b, c = bank.subset(4, seed=0), bank.subset(4, seed=0), bank.subset(4, seed=1)
    assert [s.scenario_id for s in a] == [s.scenario_id for s in b]
    assert [s.scenario_id for s in a] != [s.scenario_id for s in c]
    counts = a.dim_counts()
    assert all(n >= 1 for n in counts)
    assert all(n == 4 for n in counts[10:])  # single-dim scenarios: exactly the cap
    assert len(a) < len(bank) / 10
    with pytest.raises(ConfigError, match="max_scenarios_per_dim"):
        bank.subset(0)
