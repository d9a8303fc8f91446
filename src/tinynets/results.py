"""Results of record for MNIST under 20k parameters.

    python -m tinynets.results run [LABEL ...]   # train what is missing (make reproduce)
    python -m tinynets.results report            # results.json, README.md, curves.png, frontier.png (make report)

The entries (conf/results.yaml) are trained with their seeds on the official 10k test set as the
per-epoch eval set, each as `python train.py <overrides> seed=N` into outputs/results/<label>/seed<N>/.
`run` skips runs whose run dir holds them complete (tinynets.resume), so an interrupted reproduction resumes.
`report` reads those run dirs and the runs results.json already records: nothing is typed by hand.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tinynets.files import atomic_write, read_json, read_metrics, write_json
from tinynets.results_spec import Entry, load_spec

ROOT = Path(__file__).resolve().parents[2]
RUNS = ROOT / "outputs" / "results"
OUT = ROOT / "experiments" / "mnist_under_20k"
JOBS_NOTE = ("with `make reproduce`'s default of two runs at a time, one core each (a run alone with\n"
             "both cores is faster, but two at a time finish more runs per hour on a 2-core CPU).")


_SPEC = load_spec()
ENTRIES, SCREEN, SEEDS, WRITEUPS, PUBLIC, TARGET = (_SPEC.entries, _SPEC.screen, _SPEC.seeds, _SPEC.writeups,
                                                    _SPEC.public, _SPEC.target)
OURS = _SPEC.ours


def run_dir(entry: Entry, seed: int) -> Path:
    return RUNS / entry.label / f"seed{seed}"


def load(entry: Entry, seed: int) -> dict | None:
    m = read_metrics(run_dir(entry, seed))
    return m if m is not None and m.get("status") == "ok" else None


def complete(entry: Entry) -> dict[int, dict]:
    """seed -> metrics of the entry's complete runs (each metrics.json read once)."""
    return {s: m for s in entry.seeds if (m := load(entry, s)) is not None}


def run(labels: list[str], jobs: int = 1, seeds: list[int] | None = None) -> int:
    """Train the missing runs, one process per run, `jobs` at a time (each with its share of the
    cores as torch threads). While `outputs/results/PAUSE` exists, no new run starts (so a
    benchmark can have a quiet machine)."""
    import os

    by_label = {e.label: e for e in ENTRIES + SCREEN}
    unknown = [x for x in labels if x not in by_label]
    if unknown:
        print(f"error: unknown entries {unknown}; known: {list(by_label)}", file=sys.stderr)
        return 2
    chosen = [by_label[x] for x in labels] if labels else ENTRIES + SCREEN  # in the order given
    from tinynets.resume import complete_record  # what train.py itself would not run again

    done = {e.label: [s for s in e.seeds if complete_record(run_dir(e, s), [*e.overrides, f"seed={s}"]) is not None]
            for e in chosen}
    pending = [(e, s) for e in chosen for s in e.seeds
               if (seeds is None or s in seeds) and s not in done[e.label]]
    for e in chosen:
        if done[e.label]:
            print(f"[{e.label}] seeds {list(done[e.label])} complete, skipping", flush=True)
    threads = os.environ.get("OMP_NUM_THREADS") or str(max(1, (os.cpu_count() or 1) // jobs))
    env = {**os.environ, "OMP_NUM_THREADS": threads}
    running: list[tuple[str, float, subprocess.Popen]] = []
    failed = 0

    def reap(block: bool) -> None:
        nonlocal failed
        while running and (block or any(p.poll() is not None for _, _, p in running)):
            for item in list(running):
                name, t0, proc = item
                if proc.poll() is not None:
                    running.remove(item)
                    failed += proc.returncode != 0
                    print(f"[{name}] exit {proc.returncode} after {time.time() - t0:.0f}s", flush=True)
            if block and running:
                time.sleep(5)
            if not block:
                break

    for entry, seed in pending:
        while len(running) >= jobs or (RUNS / "PAUSE").exists():
            time.sleep(5)
            reap(block=False)
        cmd = [sys.executable, str(ROOT / "train.py"), *entry.overrides, f"seed={seed}",
               f"hydra.run.dir={run_dir(entry, seed)}"]
        name = f"{entry.label} seed {seed}"
        print(f"[{name}] {' '.join(cmd[1:])} ({threads} threads)", flush=True)
        running.append((name, time.time(), subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)))
    reap(block=True)
    return 1 if failed else 0


# ----------------------------------------------------------------------------- report
def _record(entry: Entry, m: dict) -> dict:
    return {
        "label": entry.label,
        "writeup": entry.writeup,
        "model": m["model"],
        "params": m["params"],
        "seed": m["seed"],
        "overrides": m.get("overrides", []),
        "val_acc": m["val_acc"],
        "best_acc": m["best_val_acc"],
        "best_epoch": m["best_epoch"],
        "target_epoch": m["target_epoch"],
        "test_acc": m["test_acc"],
        "epochs": m["epochs"],
        "eval_set": m["eval_set"],
        "wall_s": _wall_s(m),
        "resumed": m.get("resumed_from") is not None,
        "device": m["device"],
        "verdict": m["verdict"],
        "code": m.get("code"),
    }


def _wall_s(m: dict) -> float:
    """The run's wall time; a run killed and resumed only timed its last process, so it counts
    its epochs' own times instead (each epoch's training and evaluation, as logged)."""
    if m.get("resumed_from") is None:
        return m["wall_s"]
    return round(sum(e["seconds"] for e in m["history"]), 2)


def records(entry: Entry, recorded: dict[tuple[str, int], dict]) -> list[dict]:
    """The entry's runs, by seed: a complete run dir here, else the run results.json already
    records for the same overrides (so a clone without the run dirs keeps the results of record)."""
    out = []
    fresh = complete(entry)
    for seed in entry.seeds:
        if seed in fresh:
            out.append(_record(entry, fresh[seed]))
        elif (old := recorded.get((entry.label, seed))) is not None \
                and [o for o in old.get("overrides", []) if not o.startswith("seed=")] == list(entry.overrides):
            out.append(old)
    return out


def _mean_std(xs: list[float]) -> str:
    if not xs:
        return "n/a"
    if len(xs) == 1:  # no spread to speak of
        return f"{xs[0]:.2f}"
    return f"{statistics.mean(xs):.2f} ± {statistics.stdev(xs):.2f}"


def _yn(v: bool) -> str:
    return "yes" if v else "no"


@dataclass(frozen=True)
class Stat:
    runs: int  # complete runs
    reached: int  # runs reaching the target
    mean_best: float
    seeds: int  # runs the entry asks for (at least the default seeds, for a row of record)

    @property
    def holds_so_far(self) -> bool:
        """Every run reaches the target and so does the mean."""
        return self.reached == self.runs and self.mean_best >= TARGET

    @property
    def holds(self) -> bool:
        return self.runs == self.seeds and self.holds_so_far


def rows_of_record(stats: dict[str, Stat]) -> tuple[dict[str, str | None], list[str]]:
    """For each write-up, the first of its rows (its own recipe first) that holds over all its seeds."""
    of_record: dict[str, str | None] = {}
    lines = []
    for w in dict.fromkeys(e.writeup for e in ENTRIES if e.writeup):
        own, *second = [e for e in ENTRIES if e.writeup == w]
        best = next((e for e in (own, *second) if e.label in stats and stats[e.label].holds), None)
        of_record[w] = best.label if best else None
        head = f"- {w} (`{own.label}`): "
        if best is own:
            lines.append(head + f"its own recipe holds, mean best {stats[own.label].mean_best:.2f}%.")
            continue
        mine = stats.get(own.label)
        said = (f"its own recipe does not ({mine.reached} of {mine.runs} runs reach {TARGET}%, mean best "
                f"{mine.mean_best:.2f}%)" if mine else "its own recipe not run yet")
        if mine and mine.holds_so_far:
            said = f"its own recipe holds so far ({mine.runs} of {mine.seeds} seeds run)"
        tail = (f"; `{best.label}` holds, mean best {stats[best.label].mean_best:.2f}%." if best
                else "; no row holds over all seeds yet.")
        lines.append(head + said + tail)
    return of_record, lines


def report() -> int:
    from tinynets import results_figures

    old = read_json(OUT / "results.json") or {}
    recorded = {(r["label"], r["seed"]): r for r in old.get("runs", []) + old.get("screen", [])}
    runs, rows, verdicts, pending = [], [], [], []
    by_label: dict[str, list[dict]] = {}
    stats: dict[str, Stat] = {}
    for entry in ENTRIES:
        recs = records(entry, recorded)
        runs += recs
        missing = [s for s in entry.seeds if s not in {r["seed"] for r in recs}]
        if missing:
            pending.append(f"`{entry.label}` seed{'s' if len(missing) > 1 else ''} {', '.join(map(str, missing))}")
        if not recs:
            continue
        by_label[entry.label] = recs
        v, n = recs[0]["verdict"], len(recs)
        reached = [r["target_epoch"] for r in recs if r["target_epoch"] is not None]
        stat = stats[entry.label] = Stat(n, len(reached), statistics.mean(r["best_acc"] for r in recs),
                                         max(len(entry.seeds), len(SEEDS)))
        rows.append("| " + " | ".join([
            f"`{entry.label}`" + (f" ({entry.note})" if entry.note else ""),
            entry.writeup or "ours",
            f"{recs[0]['params']:,}",
            " / ".join(_yn(v[k]) for k in ("uses_bn", "uses_dropout", "uses_gap", "uses_fc")),
            (WRITEUPS.get(entry.writeup) or {}).get("claimed", "—"),
            f"{n}/{len(entry.seeds)}",
            _mean_std([r["best_acc"] for r in recs]) + "%",
            ", ".join(str(r["best_epoch"]) for r in recs),
            f"{len(reached)}/{n}",
            ", ".join(str(r["target_epoch"]) if r["target_epoch"] else "—" for r in recs),
            _mean_std([r["test_acc"] for r in recs]) + "%",
            f"{recs[0]['epochs']}",
            f"{statistics.median(r['wall_s'] for r in recs) / 60:.0f}",
        ]) + " |")
        seeds = f"seed{'s' if n > 1 else ''} {', '.join(str(r['seed']) for r in recs)}"
        if stat.holds_so_far:
            verdicts.append(f"- `{entry.label}`: reaches {TARGET}% in every run so far ({seeds}), "
                            f"mean best {stat.mean_best:.2f}%.")
        else:
            short = ", ".join(f"seed {r['seed']} {r['best_acc']:.2f}% ({TARGET - r['best_acc']:.2f} short)"
                              for r in recs if r["target_epoch"] is None)
            verdicts.append(f"- `{entry.label}`: **does not hold**: {stat.reached} of {n} runs ({seeds}) reach "
                            f"{TARGET}%, mean best {stat.mean_best:.2f}%" + (f"; {short}." if short else "."))

    of_record, record_lines = rows_of_record(stats)
    OUT.mkdir(parents=True, exist_ok=True)
    screen = [r for e in SCREEN for r in records(e, recorded)]
    write_json(OUT / "results.json", {"runs": runs, "pending": pending, "row_of_record": of_record,
                                      "screen": screen})
    own = {w: next(e.label for e in ENTRIES if e.writeup == w) for w in of_record}  # each write-up's recipe
    ours = {title: [x for x in labels if x in by_label] for title, labels in OURS.items()}
    panels = [(f"write-up {w}", [x for x in dict.fromkeys([own[w], rec]) if x in by_label])
              for w, rec in of_record.items()] + list(ours.items())
    results_figures.curves([(title, [(x, by_label[x]) for x in labels]) for title, labels in panels if labels],
                           TARGET, OUT / "curves.png")
    shown = dict.fromkeys([*(v for v in of_record.values() if v), *(x for xs in ours.values() for x in xs)])
    points = [(x, by_label[x], stats[x].holds) for x in shown]
    claimed = [(w, by_label[own[w]][0]["params"], c["acc"]) for w, c in WRITEUPS.items()
               if c.get("acc") is not None and own.get(w) in by_label]
    results_figures.frontier(points, claimed, PUBLIC, TARGET, OUT / "frontier.png")
    devices = sorted({r["device"] for r in runs})
    hours = sum(r["wall_s"] for r in runs) / 3600
    header = ("| model | write-up | params | BN / Dropout / GAP / FC | claimed | runs | best acc, mean ± std "
              f"| best epoch per seed | runs reaching {TARGET}% | epoch reaching {TARGET}% per seed "
              "| final acc, mean ± std | epochs | min per run |")
    sep = "|" + "---|" * (header.count("|") - 1)
    not_yet = ("Not run yet (`make reproduce` trains them; the table fills in on the next `make report`): "
               + "; ".join(pending) + ".") if pending else "Every run of every entry is complete."
    text = f"""# MNIST under 20k parameters: results of record

Generated by `make report` from the run dirs of `make reproduce` and the runs results.json
already records (do not edit by hand; the entries and their seeds are `conf/results.yaml`).
Every run: the official 10k MNIST test set evaluated after each epoch (the assignment's
"validation"); "runs" counts the seeds done of those the entry asks for (0, 1, 2, or 0-4);
"best acc" is the best epoch's test accuracy (what the write-ups report), "final acc" the
accuracy after the last epoch.
{len(runs)} runs, {hours:.1f} h of training in all (each run's wall time, summed), on: {"; ".join(devices)}.
"min per run" is the median wall time of one run, {JOBS_NOTE}

{header}
{sep}
{chr(10).join(rows)}

{chr(10).join(verdicts)}

Per write-up, the row of record: its own recipe where that holds over all its seeds (every
run reaching {TARGET}%, mean best >= {TARGET}%), else the first second row that does.

{chr(10).join(record_lines)}

{not_yet}

{_screen_table(screen)}

![params against accuracy](frontier.png)

![test accuracy per epoch](curves.png)

Per-run records (per-epoch accuracy, overrides, wall time, device): [results.json](results.json).
Recipes: `conf/experiment/<model>.yaml`, each stating what its write-up says and what we chose
where it is silent. Reproduce: `make reproduce` (skips runs already complete here), then `make report`.
"""
    atomic_write(OUT / "README.md", text)
    print(f"wrote {OUT / 'results.json'} ({len(runs)} runs, {len(pending)} entries with runs pending), "
          "README.md, curves.png, frontier.png")
    return 0


def _screen_table(screen: list[dict]) -> str:
    """The holdout screen: what each run changed, and its best accuracy on the holdout only."""
    if not screen:
        return ""
    shared = [o for o in screen[0]["overrides"]
              if not o.startswith("seed=") and all(o in r["overrides"] for r in screen)]
    lines = [f"## Recipe screen on a holdout (chooses recipes; the test set plays no part)\n",
             f"One run each (seed 0), `{' '.join(shared)}`: 5,000 training images held out and "
             "evaluated after every epoch.\n",
             "| run | params | change | best holdout acc | best epoch | min |", "|---|---|---|---|---|---|"]
    for r in screen:
        change = " ".join(o for o in r["overrides"] if o not in shared and not o.startswith("seed=")) or "—"
        lines.append(f"| `{r['label']}` | {r['params']:,} | `{change}` | {r['best_acc']:.2f}% | {r['best_epoch']} "
                     f"| {r['wall_s'] / 60:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="train the missing runs")
    r.add_argument("labels", nargs="*", help=f"entries to run (default all): {[e.label for e in ENTRIES]}")
    r.add_argument("--jobs", type=int, default=1, help="runs at a time (each gets cores/jobs torch threads)")
    r.add_argument("--seeds", type=int, nargs="+", help="only these of each entry's seeds (default all)")
    sub.add_parser("report", help="write results.json, README.md, curves.png and frontier.png")
    args = ap.parse_args(argv)
    return run(args.labels, args.jobs, args.seeds) if args.cmd == "run" else report()


if __name__ == "__main__":
    sys.exit(main())
