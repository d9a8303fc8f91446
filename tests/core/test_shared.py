"""The shared helpers every package uses (one each): CSV and JSON in and out and matplotlib's backend
(tinynets.files), the number a table shows (tinynets.tables), override strings (tinynets.overrides) and
what a finite number is (tinynets.checks)."""

from __future__ import annotations

import math

import pytest

from tinynets.checks import is_finite_number
from tinynets.files import pyplot, read_csv, read_json, write_csv, write_json
from tinynets.overrides import as_dict, key_value, split, value_of
from tinynets.tables import number


def test_write_csv_rows_as_sequences_or_mappings(tmp_path):
    path = tmp_path / "t.csv"
    write_csv(path, ["a", "b", "c"], [[1, 0.1 + 0.2, None], {"c": "x", "a": 2}])
    assert path.read_bytes() == b"a,b,c\n1,0.30000000000000004,\n2,,x\n"  # every digit, None empty, \n
    assert read_csv(path) == [{"a": "1", "b": "0.30000000000000004", "c": ""}, {"a": "2", "b": "", "c": "x"}]


def test_write_csv_is_whole_or_absent(tmp_path):
    def rows():
        yield [1]
        raise RuntimeError("the writer died half way")

    with pytest.raises(RuntimeError):
        write_csv(tmp_path / "t.csv", ["a"], rows())
    assert list(tmp_path.iterdir()) == []  # no file, no temp file


def test_read_json_is_none_for_what_is_not_an_object(tmp_path):
    write_json(tmp_path / "ok.json", {"a": 1})
    (tmp_path / "list.json").write_text("[1]")
    (tmp_path / "bad.json").write_text("{")
    assert read_json(tmp_path / "ok.json") == {"a": 1}
    assert read_json(tmp_path / "list.json") is read_json(tmp_path / "bad.json") is read_json(tmp_path / "no") is None


@pytest.mark.parametrize(("value", "key", "text"), [
    (None, "", ""), (True, "", "yes"), (False, "acc_ok", "no"), (18544, "params", "18,544"), (7, "epochs", "7"),
    (18544.0, "params", "18,544"), (99.4123, "best_val_acc", "99.41"), (0.012345, "val_loss", "0.01235"),
    (12.345, "wall_s", "12.3"), ("sep", "model", "sep"),
])
def test_number_as_a_table_shows_it(value, key, text):
    assert number(value, key) == text


def test_number_with_digits_and_a_mark_for_missing():
    assert number(0.298371109062, digits=9) == "0.298371109"
    assert number(None, digits=9, missing="–") == "–"


def test_number_in_the_forms_a_page_asks_for():
    assert (number(3, digits=2), number(2.0, digits=0), number(1234.5, digits=0, sep=True)) == ("3.00", "2", "1,234")
    assert (number(12345, sep=True), number(12345), number(0.5, digits=2, sign=True)) == ("12,345", "12345", "+0.50")
    assert (number(-0.25, digits=2, sign=True), number(0.75, short=True), number(20.0, short=True)) == ("-0.25", "0.75", "20")


def test_overrides_read_as_keys_and_values():
    assert split("+a.b=1") == ("+a.b", "1") and key_value("+a.b=1") == ("a.b", "1")
    assert key_value("~a") == ("a", "") and key_value("x=y=z") == ("x", "y=z")
    assert as_dict(["lr=0.1", "+b=2", "lr=0.2", "~c"]) == {"lr": "0.2", "b": "2", "c": ""}
    assert value_of(["x=1", "+y=2", "y=3"], "y") == "2" and value_of(["~y"], "y") is None


@pytest.mark.parametrize(("value", "finite"), [(1, True), (0.5, True), (True, False), (math.nan, False),
                                               (math.inf, False), ("1", False), (None, False)])
def test_is_finite_number(value, finite):
    assert is_finite_number(value) is finite


def test_pyplot_draws_to_files_only():
    import matplotlib

    matplotlib.use("svg")  # another backend chosen before (a display's, MPLBACKEND's): here agg is the default
    try:
        assert pyplot().get_backend().lower() == "agg"
    finally:
        matplotlib.use("agg")
