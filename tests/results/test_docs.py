"""The generated blocks of README.md and docs/*.md (`make docs`, tinynets.results.docs): the committed
pages are what their records render (a stale number fails here), and the generator follows its JSON."""

from __future__ import annotations

import copy
import difflib
import json
import shutil

import pytest

from tests.helpers import CONF, ROOT
from tinynets.errors import UserError
from tinynets.results import docs
from tinynets.results.__main__ import main as results_cli

TABLE = "<!-- generated: results-table -->\n<!-- /generated -->\n"


def test_every_generated_block_is_what_its_records_render():
    """Each page's blocks, rendered again in memory from experiments/ and conf/, equal the committed
    text. Red: a number edited by hand, or a record changed without `make docs`."""
    assert docs.pages(ROOT), "no pages found"
    stale = docs.stale(ROOT)
    diffs = ["".join(difflib.unified_diff(p.read_text().splitlines(True), new.splitlines(True),
                                          str(p.relative_to(ROOT)), "rendered", n=0))[:3000]
             for p, new in stale.items()]
    assert not stale, "stale generated blocks (run `make docs`):\n" + "\n".join(diffs)


def test_the_readme_has_the_results_table_and_fits_two_screens():
    text = (ROOT / "README.md").read_text()
    assert text.count("<!-- generated: results-table -->") == 1
    assert len(text.splitlines()) <= 150
    for page in ("results", "search", "scale-out", "speed", "backprop-sheet", "reliability", "configuration"):
        assert f"docs/{page}.md" in text and (ROOT / "docs" / f"{page}.md").is_file(), page


def test_a_number_edited_by_hand_is_found(tmp_path):
    """The check the first test makes, on a copy: one digit of the README's table changed by hand."""
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    (tmp_path / "experiments").symlink_to(ROOT / "experiments")
    rec = docs.Records(tmp_path, conf=CONF)
    assert docs.stale(tmp_path, rec) == {}
    text = (tmp_path / "README.md").read_text()
    block = docs.BLOCK.search(text).group("body")
    row = next(line for line in block.splitlines() if "`sep`" in line)
    (tmp_path / "README.md").write_text(text.replace(row, row.replace("5/5", "4/5", 1)))
    assert list(docs.stale(tmp_path, rec)) == [tmp_path / "README.md"]


def fake_run(label: str, seed: int, accs: list[float], params: int, writeup: str | None = None) -> dict:
    best = max(accs)
    return {"label": label, "writeup": writeup, "model": label, "params": params, "seed": seed,
            "overrides": [f"experiment={label}", f"seed={seed}"], "val_acc": accs, "best_acc": best,
            "best_epoch": accs.index(best) + 1, "epochs": len(accs), "eval_set": "test", "wall_s": 60.0,
            "target_epoch": next((i + 1 for i, a in enumerate(accs) if a >= 99.4), None),
            "test_acc": accs[-1], "device": "cpu: test", "verdict": {}}


def write_root(root, results: dict, bench: dict | None = None) -> docs.Records:
    (root / "experiments" / "mnist_under_20k").mkdir(parents=True)
    (root / "experiments" / "mnist_under_20k" / "results.json").write_text(json.dumps(results))
    if bench is not None:
        (root / "experiments" / "bench").mkdir(parents=True)
        (root / "experiments" / "bench" / "results.json").write_text(json.dumps(bench))
    (root / "README.md").write_text("# x\n\n" + TABLE)
    return docs.Records(root, conf=CONF)


RESULTS = {"runs": [fake_run("tiny", s, [99.0, a], 3000) for s, a in enumerate([99.41, 99.45, 99.50])]
           + [fake_run("other", 0, [99.0, 99.30], 5000), fake_run("wu_row", 0, [99.5, 99.45], 9000, "001")],
           "row_of_record": {"001": "wu_row"}, "pending": [], "screen": []}


def test_the_results_table_follows_results_json(tmp_path):
    """The rows of record (a write-up's row_of_record, our `experiment=<label>` entries) with their
    seeds' mean ± std; a changed accuracy in the JSON changes the rendered row, and the page is stale."""
    rec = write_root(tmp_path, RESULTS)
    page = tmp_path / "README.md"
    page.write_text(docs.stale(tmp_path, rec)[page])
    rows = docs.BLOCK.search(page.read_text()).group("body").splitlines()
    assert rows[2] == "| `tiny` | ours | 3,000 | 3 | 99.45 ± 0.05% | 99.45 ± 0.05% | 3/3 | 3/3 | 2 |"
    assert rows[3] == "| `other` | ours | 5,000 | 1 | 99.30% | 99.30% | 0/1 | 0/1 | 2 |"
    assert rows[4].startswith("| `wu_row` | 001 | 9,000 | 1 | 99.50% | 99.45% | 1/1 | 1/1 |")
    assert docs.stale(tmp_path, docs.Records(tmp_path, conf=CONF)) == {}

    changed = copy.deepcopy(RESULTS)
    changed["runs"][2]["val_acc"][-1] = changed["runs"][2]["best_acc"] = 99.38
    changed["runs"][2]["target_epoch"] = None
    (tmp_path / "experiments" / "mnist_under_20k" / "results.json").write_text(json.dumps(changed))
    new = docs.stale(tmp_path, docs.Records(tmp_path, conf=CONF))[page]
    assert "| `tiny` | ours | 3,000 | 3 | 99.41 ± 0.04% | 99.41 ± 0.04% | 2/3 | 2/3 | 2 |" in new


def test_the_speed_blocks_follow_the_bench_json(tmp_path):
    """Ratios are computed from the recorded img/s: channels_last's speed-up is the default over
    `channels_last=false`, bf16's over (a) its img/s over the write-ups' pipeline."""
    opts = {"default": {"img_per_s": 300.0}, "channels_last=false": {"img_per_s": 200.0},
            "bf16-mixed": {"img_per_s": 450.0}}
    model = {"params": 12088, "img_per_s": {"seed": 100.0, "tinynets": 290.0, "raw": 300.0},
             "speedup_vs_seed_pipeline": 2.9, "ratio_vs_raw_loop": 0.967, "options": opts}
    bench = {"machines": {"CPU X": {"machine": {"cores": 2}, "throughput": {
        "command": "python -m tinynets.bench", "date": "2026-12-01 10:00",
        "code": {"commit": "abcdef0123", "dirty": False}, "models": {"deep_narrow": model}}}}}
    rec = write_root(tmp_path, RESULTS, bench)
    line, _, _header, _, row = docs.options(rec)
    assert line == "**CPU X**, 2 cores: `python -m tinynets.bench`, 2026-12-01 10:00, commit abcdef0."
    assert row.split(" | ")[1:4] == ["1.50x", "1.50x", "4.50x"]
    assert "| `deep_narrow` | 12,088 | 100 | 290 | 300 | 2.90x | 0.967 |" in docs.throughput(rec)
    assert docs.gpu(rec)[0].startswith("No GPU result recorded")


def test_an_unknown_block_is_one_line_and_check_exits_1_when_stale(tmp_path, capsys):
    write_root(tmp_path, RESULTS)
    assert results_cli(["--root", str(tmp_path), "docs", "--check"]) == 1
    assert "stale: README.md" in capsys.readouterr().out
    assert results_cli(["--root", str(tmp_path), "docs"]) == 0
    assert results_cli(["--root", str(tmp_path), "docs", "--check"]) == 0
    (tmp_path / "README.md").write_text("<!-- generated: nope -->\n<!-- /generated -->\n")
    with pytest.raises(UserError, match="unknown generated block 'nope'"):
        docs.stale(tmp_path)
    assert results_cli(["--root", str(tmp_path), "docs"]) == 2
    assert "error: README.md: unknown generated block 'nope'" in capsys.readouterr().err
