"""The results of record (`make reproduce` / `make report`) from fake run dirs: no training."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.helpers import ROOT, png_size
from tinynets.files import write_json
from tinynets.results import report as results
from tinynets.results.runner import run as run_missing
from tinynets.results.spec import REPORT_DIR, load_spec

CLEAN = {"commit": "0123456789abcdef0123456789abcdef01234567", "dirty": False}
FLAGS = {"uses_bn": True, "uses_dropout": True, "uses_gap": True, "uses_fc": False}


def fake_run(runs, label: str, seed: int, accs: list[float], status: str = "ok", params: int = 7_890,
             resumed: bool = False, code: dict | None = CLEAN) -> None:
    best = max(accs)
    target = next((i + 1 for i, a in enumerate(accs) if a >= 99.4), None)
    write_json(runs / label / f"seed{seed}" / "metrics.json", {
        "status": status, "model": label, "params": params, "seed": seed,
        "overrides": [*next(e.overrides for e in SPEC.entries if e.label == label), f"seed={seed}"],
        "val_acc": accs, "best_val_acc": best, "best_epoch": accs.index(best) + 1, "target_epoch": target,
        "test_acc": accs[-1], "epochs": len(accs), "eval_set": "test", "wall_s": 600.0 + seed,
        "device": "cpu: test (1 threads)", "verdict": FLAGS,
        "history": [{"epoch": i + 1, "val_acc": a, "seconds": 300.0} for i, a in enumerate(accs)],
        "resumed_from": "checkpoints/last.ckpt" if resumed else None, "code": code})


SPEC = load_spec(ROOT)  # the checkout's own entries


@pytest.fixture
def spec(tmp_path):
    """The checkout's entries.yaml in a fresh root: its run dirs and report are under tmp_path."""
    (tmp_path / REPORT_DIR).mkdir(parents=True)
    shutil.copy(ROOT / REPORT_DIR / "entries.yaml", tmp_path / REPORT_DIR / "entries.yaml")
    return load_spec(tmp_path)


@pytest.fixture
def dirs(spec):
    return spec.runs, spec.out


def test_the_spec_file_is_read_and_the_target_is_train_yamls():
    labels = [e.label for e in SPEC.entries]
    assert labels[:5] == ["gap_fc", "gap_conv", "transition", "aggregator", "deep_narrow"]
    assert SPEC.seeds == (0, 1, 2)
    assert next(e for e in SPEC.entries if e.label == "slim").seeds == (0, 1, 2, 3, 4)
    assert next(e for e in SPEC.entries if e.label == "gap_fc_rot7").seeds == (0,)
    assert SPEC.target == 99.4 and SPEC.writeups["004"]["acc"] == 99.49 and SPEC.writeups["003"]["acc"] is None
    # each write-up row is known by its model (conf/model/*.yaml carries the id), ours by none
    assert [e.writeup for e in SPEC.entries[:5]] == ["000", "001", "002", "003", "004"]
    assert {e.writeup for e in SPEC.entries if e.label.startswith(("slim", "micro", "nano", "sep"))} == {None}


def test_report_tables_verdicts_and_pending_runs(spec, dirs):
    runs, out = dirs
    for seed, accs in enumerate([[99.0, 99.45], [99.1, 99.41], [99.2, 99.5]]):
        fake_run(runs, "slim", seed, accs, resumed=seed == 2)
    fake_run(runs, "gap_fc", 0, [98.9, 99.3], params=19_629)
    fake_run(runs, "gap_fc", 1, [98.9, 99.2], status="diverged", params=19_629)  # not ok: pending

    assert results.report(spec) == 0
    data = json.loads((out / "results.json").read_text())
    assert sorted((r["label"], r["seed"]) for r in data["runs"]) == [("gap_fc", 0), ("slim", 0), ("slim", 1),
                                                                     ("slim", 2)]
    slim = next(r for r in data["runs"] if r["label"] == "slim" and r["seed"] == 1)
    assert slim["val_acc"] == [99.1, 99.41] and slim["target_epoch"] == 2 and slim["best_acc"] == 99.41
    # a run killed and resumed timed only its last process: its epochs' own times count instead
    assert [(r["wall_s"], r["resumed"]) for r in data["runs"] if r["label"] == "slim"] == [
        (600.0, False), (601.0, False), (600.0, True)]
    readme = (out / "README.md").read_text()
    assert "| `slim` (ours, under 8k) | ours | 7,890 | yes / yes / yes / no | — | 3/5 | 99.45 ± 0.05% |" in readme
    assert ("- `slim`: reaches 99.4% in every run so far (seeds 0, 1, 2), mean best 99.45%; final weights at "
            "99.4% in 3 of 3.") in readme
    # peak and final side by side, and how many runs end at the target
    assert "| 99.45 ± 0.05% | 99.45 ± 0.05% | 2, 2, 2 | 3/3 | 3/3 | 2, 2, 2 |" in readme
    assert ("- `gap_fc`: **does not hold**: 0 of 1 runs (seed 0) reach 99.4%, mean best 99.30%; "
            "seed 0 99.30% (0.10 short); final weights at 99.4% in 0 of 1.") in readme  # a miss says by how much
    assert "`gap_fc` seeds 1, 2" in readme and "`micro` seeds 0, 1, 2" in readme and "`slim` seeds 3, 4" in readme
    assert png_size(out / "curves.png")[0] >= 600 and png_size(out / "frontier.png")[0] >= 600


def test_report_keeps_recorded_runs_without_their_run_dirs_and_prefers_fresh_ones(spec, dirs):
    runs, out = dirs
    for seed in (0, 1):
        fake_run(runs, "slim", seed, [99.0, 99.45])
    fake_run(runs, "micro", 0, [99.1, 99.3])
    assert results.report(spec) == 0
    for d in (runs / "slim" / "seed1", runs / "micro" / "seed0"):  # a clone has no run dirs
        (d / "metrics.json").unlink()
    fake_run(runs, "slim", 0, [99.2, 99.5])  # trained again here: the fresh run wins
    assert results.report(spec) == 0
    data = json.loads((out / "results.json").read_text())
    got = {(r["label"], r["seed"]): r["best_acc"] for r in data["runs"]}
    assert got == {("slim", 0): 99.5, ("slim", 1): 99.45, ("micro", 0): 99.3}
    # a recorded run of other overrides (the entry changed since) is not kept
    rec = next(r for r in data["runs"] if (r["label"], r["seed"]) == ("slim", 1))
    rec["overrides"] = ["experiment=slim", "lr=0.2", "seed=1"]
    write_json(out / "results.json", data)
    assert results.report(spec) == 0
    got = {(r["label"], r["seed"]) for r in json.loads((out / "results.json").read_text())["runs"]}
    assert got == {("slim", 0), ("micro", 0)}


@pytest.mark.parametrize("entry", SPEC.entries, ids=lambda e: e.label)
def test_every_entry_composes_within_the_issues_epoch_budget(entry, make_cfg):
    """A typo in an entry's overrides would only surface hours into `make reproduce`."""
    cfg = make_cfg(*entry.overrides)
    assert cfg.trainer.max_epochs <= 20
    assert cfg.data.val_split == 0  # results of record evaluate every epoch on the official test set
    if entry.writeup is None:  # ours: the bar is 99.4% within 15 epochs
        assert cfg.trainer.max_epochs <= 15


@pytest.mark.parametrize("entry", SPEC.screen, ids=lambda e: e.label)
def test_every_screen_entry_composes_and_never_evaluates_on_the_test_set(entry, make_cfg):
    cfg = make_cfg(*entry.overrides)
    assert cfg.data.val_split >= 5000 and cfg.trainer.max_epochs <= 15


def test_screen_table_shows_the_change_and_no_test_accuracy(spec, dirs):
    runs, out = dirs
    for e in SPEC.screen[:2]:  # screen_micro, screen_nano: they differ in `model=`
        write_json(runs / e.label / "seed0" / "metrics.json", {
            "status": "ok", "model": "nano", "params": 4948, "seed": 0, "overrides": [*e.overrides, "seed=0"],
            "val_acc": [99.0, 99.26], "best_val_acc": 99.26, "best_epoch": 2, "target_epoch": None,
            "test_acc": 99.5, "epochs": 2, "eval_set": "holdout", "wall_s": 300.0, "device": "cpu: test",
            "verdict": FLAGS, "code": CLEAN})
    assert results.report(spec) == 0
    readme = (out / "README.md").read_text()
    assert "| `screen_nano` | 4,948 | `model=nano` | 0 | 99.26% | 99.26% | 99.26% | 5 |" in readme
    assert "`experiment=micro data.val_split=5000 logger=none`: 5,000 training images held out" in readme
    assert "99.50" not in readme  # the screen never shows the test set
    got = [r["label"] for r in json.loads((out / "results.json").read_text())["screen"]]
    assert got == ["screen_micro", "screen_nano"]


def test_entry_labels_are_unique_and_second_rows_name_their_change():
    labels = [e.label for e in SPEC.entries + SPEC.screen]
    assert len(labels) == len(set(labels))
    # a second row: a write-up's experiment plus a stated change
    second = [e for e in SPEC.entries if e.writeup and e.label != e.overrides[0].removeprefix("experiment=")]
    assert len(second) >= 4, [e.label for e in second]  # entries.yaml has them (each known by its write-up)
    for e in second:
        assert len(e.overrides) > 1 and e.note, e.label


def test_row_of_record_is_the_first_row_of_a_writeup_that_holds_over_all_seeds():
    def S(runs, reached, mean_best, seeds):
        return results.Stat(runs, reached, mean_best, seeds, 99.4)

    stats = {
        "gap_fc": S(3, 1, 99.35, 3),  # own recipe fails
        "gap_fc_onecycle": S(3, 3, 99.45, 3),  # the first second row that holds
        "gap_fc_onecycle_19ep": S(3, 3, 99.50, 3),  # holds too, but comes later
        "gap_conv": S(3, 3, 99.39, 3),  # every run reaches, yet the mean is short
        "gap_conv_rot7": S(1, 1, 99.41, 3),  # a one-seed row is no row of record
        "gap_conv_onecycle": S(2, 2, 99.50, 3),  # holds so far, but a seed is missing
        "transition": S(3, 3, 99.43, 3),  # own recipe holds
        "deep_narrow": S(2, 2, 99.48, 3),
    }
    of_record, lines = results.rows_of_record(SPEC, stats)
    assert of_record == {"000": "gap_fc_onecycle", "001": None, "002": "transition", "003": None, "004": None,
                         "woolly-of-cv": None}  # the published net: no stats given here
    assert lines[0] == ("- 000 (`gap_fc`): its own recipe does not (1 of 3 runs reach 99.4%, mean best 99.35%); "
                        "`gap_fc_onecycle` holds, mean best 99.45%.")
    assert lines[2] == "- 002 (`transition`): its own recipe holds, mean best 99.43%."
    assert lines[3].endswith("its own recipe not run yet; no row holds over all seeds yet.")
    assert "holds so far (2 of 3 seeds run)" in lines[4]


@pytest.mark.parametrize("code, why", [
    ({"commit": "0123456789abcdef0123456789abcdef01234567", "dirty": True}, "commit 0123456 with uncommitted changes"),
    (None, "no commit recorded"),
    ({"commit": "0123456789abcdef0123456789abcdef01234567", "dirty": None}, "clean state unknown"),
])
def test_report_refuses_a_record_that_is_not_from_a_clean_commit(spec, dirs, capsys, code, why):
    runs, out = dirs
    fake_run(runs, "slim", 0, [99.0, 99.45])
    fake_run(runs, "slim", 1, [99.0, 99.45], code=code)
    assert results.report(spec) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("error: 1 runs of record do not come from a clean commit")
    assert "slim seed 1 (" in err and f"{why})" in err
    assert not (out / "results.json").exists() and not (out / "README.md").exists()  # nothing half-written


@pytest.mark.slow
def test_the_runner_trains_what_is_missing_and_skips_what_is_complete(tmp_path, tiny_mnist, capsys):
    """Two real (tiny) trainings as `make reproduce` starts them; run again, neither is trained twice."""
    (tmp_path / REPORT_DIR).mkdir(parents=True)
    (tmp_path / REPORT_DIR / "entries.yaml").write_text(
        "seeds: [0]\npublic: []\nentries:\n  - label: tiny\n    seeds: [0, 1]\n    threads: 1\n    overrides: [debug=fast, "
        f"data.verify=false, paths.data_dir={tiny_mnist}, logger=none, callbacks=none]\n")
    spec = load_spec(tmp_path)
    assert run_missing(spec, [], jobs=1) == 0  # a share of 2 threads on 2 cores, but the entry says 1
    records = {s: json.loads((spec.run_dir(spec.entries[0], s) / "metrics.json").read_text()) for s in (0, 1)}
    assert {s: (m["status"], m["seed"], m["epochs"]) for s, m in records.items()} == {0: ("ok", 0, 1), 1: ("ok", 1, 1)}
    assert all(m["device"].endswith("(1 threads)") for m in records.values())  # the entry's threads, not the share
    first = capsys.readouterr().out
    assert "[tiny seed 0] exit 0" in first and "[tiny seed 1] exit 0" in first
    assert run_missing(spec, ["tiny"], jobs=1) == 0  # complete: nothing starts
    again = capsys.readouterr().out
    assert "[tiny] seeds [0, 1] complete, skipping" in again and "exit" not in again
    assert run_missing(spec, ["resnet"], jobs=1) == 2


def test_the_command_outside_a_checkout_is_one_line_exit_2(tmp_path, capsys):
    from tinynets.results.__main__ import main

    for cmd in ("report", "run"):
        assert main(["--root", str(tmp_path), cmd]) == 2
        assert capsys.readouterr().err == (f"error: --root='{tmp_path}' is not allowed: a tinynets checkout with "
                                           f"{REPORT_DIR / 'entries.yaml'} (run from the repository, or pass --root)\n")


def test_the_frontier_zooms_where_four_labels_would_collide():
    """frontier.png's second panel: the window of params within 15% holding the most points, where
    it holds four or more (padded); spread-out points get one panel."""
    from tinynets.results.figures import crowded

    lo, hi = crowded([1936, 2906, 3590, 3632, 3762, 3836, 3900, 4608])
    assert 3559 <= lo < 3590 and 3900 < hi <= 3931
    assert crowded([1000, 2000, 4000, 8000, 16000]) is None and crowded([]) is None
