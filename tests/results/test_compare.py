"""The `compare` block (tinynets.results.compare): pairs side by side, final-weight accuracy over the
seeds from results.json's runs and screen, a missing side named."""

from __future__ import annotations

from types import SimpleNamespace

from tinynets.results.compare import compare


def run(label, seed, finals, eval_set="test"):
    return {"label": label, "seed": seed, "val_acc": [98.0, finals], "eval_set": eval_set}


def test_pairs_side_by_side_with_the_worst_seed_and_the_count_at_the_target():
    rec = SimpleNamespace(target=99.4, entries={"compare": [{"title": "EMA", "pairs": [["a", "a_ema"]]}]},
                          results={"runs": [run("a", 0, 99.30), run("a", 1, 99.50)],
                                   "screen": [run("a_ema", 0, 99.45, "holdout")]})
    lines = compare(rec)
    assert lines[0] == "**EMA**"
    assert "| `a` | test | 99.40% ± 0.14 | 99.30% | 1/2 | 0, 1 |" in lines  # the final epoch's, not the first's
    assert "| `a_ema` | holdout | 99.45% | 99.45% | 1/1 | 0 |" in lines  # one seed: no spread shown


def test_a_side_not_run_yet_says_so():
    rec = SimpleNamespace(target=99.4, entries={"compare": [{"title": "x", "pairs": [["a", "b"]]}]},
                          results={"runs": [run("a", 0, 99.0)]})
    assert "| `b` |  | not run yet |  |  |  |" in compare(rec)
    assert compare(SimpleNamespace(target=99.4, entries={}, results={})) == [
        "No comparisons declared (entries.yaml's `compare`)."]
