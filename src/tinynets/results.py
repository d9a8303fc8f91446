"""Results of record for MNIST under 20k parameters.

    python -m tinynets.results run [LABEL ...]   # train what is missing (make reproduce)
    python -m tinynets.results report            # results.json + README.md + curves.png (make report)

Every entry is trained with seeds 0, 1, 2 on the official 10k test set as the per-epoch eval
set, each as `python train.py <overrides> seed=N` into outputs/results/<label>/seed<N>/.
`run` skips runs whose metrics.json is complete, so an interrupted reproduction resumes.
`report` reads those run dirs only: nothing in the tables is typed by hand.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tinynets.files import atomic_write, read_metrics, write_json

ROOT = Path(__file__).resolve().parents[2]
RUNS = ROOT / "outputs" / "results"
OUT = ROOT / "experiments" / "mnist_under_20k"
SEEDS = (0, 1, 2)
TARGET = 99.4
JOBS_NOTE = ("with `make reproduce`'s default of two runs at a time, one core each (a run alone with\n"
             "both cores is faster, but two at a time finish more runs per hour on a 2-core CPU).")


@dataclass(frozen=True)
class Entry:
    label: str
    overrides: tuple[str, ...]
    writeup: str | None = None  # file prefix in shared/seeds/
    note: str = ""
    seeds: tuple[int, ...] = field(default=SEEDS)


# each write-up's own claim, as it states it (every row on its model shows it)
CLAIMED = {"000": "99.41% (epoch 14 of 19)", "001": "99.41% (epoch 17)", "002": "99.43%",
           "003": "n/a (write-up truncated)", "004": "99.49% (best of 20)"}

# slim's schedule, applied to a write-up's model (keeping its batch size and dropout)
OURS = ("scheduler=onecycle", "lr=0.1", "data.augment.rotation=7.0", "trainer.max_epochs=15")
OURS_SAID = "OneCycle to 0.1, rotation +-7 deg"  # OURS[:3] in the notes' words

ENTRIES: list[Entry] = [
    Entry("gap_fc", ("experiment=gap_fc",), "000"),
    Entry("gap_conv", ("experiment=gap_conv",), "001"),
    Entry("transition", ("experiment=transition",), "002"),
    Entry("aggregator", ("experiment=aggregator",), "003",
          "layers after the published table completed by us"),
    Entry("deep_narrow", ("experiment=deep_narrow",), "004"),
    # second rows: a write-up's recipe that does not reach 99.4% here, with the change that does.
    # Rows that stop short of three seeds say why (a seed that already decides the verdict).
    Entry("gap_fc_rot7", ("experiment=gap_fc", "data.augment.rotation=7.0"), "000",
          "write-up 000's recipe + rotation +-7 deg; one seed: it did not reach 99.4%", seeds=(0,)),
    Entry("gap_conv_rot7", ("experiment=gap_conv", "data.augment.rotation=7.0"), "001",
          "write-up 001's recipe + rotation +-7 deg; one seed: final epoch 99.19%, so `gap_conv_onecycle` "
          "is the row of record", seeds=(0,)),
    *(Entry(f"{m}_onecycle", (f"experiment={m}", *OURS), w,
            f"write-up {w}'s model + {OURS_SAID}, 15 epochs" + why, seeds=s)
      for m, w, why, s in (
          ("gap_fc", "000",
           "; two seeds: seed 1 missed (99.29%), so the row cannot hold in every seed", (0, 1)),
          ("gap_conv", "001", "", SEEDS),
          ("transition", "002", "; its own recipe holds on the mean but seed 2 peaks at 99.36%", SEEDS),
          ("aggregator", "003", "", SEEDS))),
    Entry("gap_fc_nodrop", ("experiment=gap_fc", *OURS, "dropout=none"), "000",
          f"write-up 000's model + {OURS_SAID}, 15 epochs, no Dropout2d; one seed: "
          "worse than with it", seeds=(0,)),
    Entry("gap_fc_onecycle_19ep", ("experiment=gap_fc", *OURS[:3]), "000",
          f"write-up 000's recipe, its 19 epochs, + {OURS_SAID}"),
    # ours: >= 99.4% within 15 epochs in every seed is the bar
    Entry("slim", ("experiment=slim",), None, "ours, under 8k"),
    Entry("micro", ("experiment=micro",), None, "ours, under 6k"),
    Entry("micro_nodrop", ("experiment=micro", "dropout=none"), None,
          "ours, under 6k, without Dropout2d (tried as micro's train loss ends above its test loss); "
          "worse than with it"),
    Entry("micro_b64", ("experiment=micro", "data.batch_size=64"), None,
          "ours, under 6k, batch 64: twice the steps in the same 15 epochs; two seeds: "
          "neither reaches 99.4%", seeds=(0, 1)),
    Entry("micro_p10", ("experiment=micro", "dropout.p=0.1"), None,
          "ours, under 6k, Dropout 0.1 (no Dropout was worse than 0.05); two seeds: neither reaches "
          "99.4%", seeds=(0, 1)),
]


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

    by_label = {e.label: e for e in ENTRIES}
    unknown = [x for x in labels if x not in by_label]
    if unknown:
        print(f"error: unknown entries {unknown}; known: {list(by_label)}", file=sys.stderr)
        return 2
    chosen = [by_label[x] for x in labels] if labels else ENTRIES  # in the order given
    done = {e.label: complete(e) for e in chosen}
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


def _mean_std(xs: list[float]) -> str:
    if not xs:
        return "n/a"
    if len(xs) == 1:  # no spread to speak of
        return f"{xs[0]:.2f}"
    return f"{statistics.mean(xs):.2f} ± {statistics.stdev(xs):.2f}"


def _yn(v: bool) -> str:
    return "yes" if v else "no"


def _holds_so_far(stat: tuple[int, int, float]) -> bool:
    """(runs, runs reaching the target, mean best): every run reaches it and so does the mean."""
    return stat[1] == stat[0] and stat[2] >= TARGET


def _holds(stat: tuple[int, int, float] | None) -> bool:
    return stat is not None and stat[0] == len(SEEDS) and _holds_so_far(stat)


def rows_of_record(stats: dict[str, tuple[int, int, float]]) -> tuple[dict[str, str | None], list[str]]:
    """For each write-up, the first of its rows (its own recipe first) that holds over all seeds."""
    of_record: dict[str, str | None] = {}
    lines = []
    for w in dict.fromkeys(e.writeup for e in ENTRIES if e.writeup):
        own, *second = [e for e in ENTRIES if e.writeup == w]
        best = next((e for e in (own, *second) if _holds(stats.get(e.label))), None)
        of_record[w] = best.label if best else None
        head = f"- {w} (`{own.label}`): "
        if best is own:
            lines.append(head + f"its own recipe holds, mean best {stats[own.label][2]:.2f}%.")
            continue
        mine = stats.get(own.label)
        said = (f"its own recipe does not ({mine[1]} of {mine[0]} runs reach {TARGET}%, mean best {mine[2]:.2f}%)"
                if mine else "its own recipe not run yet")
        if mine and _holds_so_far(mine):
            said = f"its own recipe holds so far ({mine[0]} of {len(SEEDS)} seeds run)"
        tail = (f"; `{best.label}` holds, mean best {stats[best.label][2]:.2f}%." if best
                else "; no row holds over all seeds yet.")
        lines.append(head + said + tail)
    return of_record, lines


def report() -> int:
    runs, rows, curves, verdicts, pending = [], [], [], [], []
    stats: dict[str, tuple[int, int, float]] = {}  # label -> (runs, runs reaching the target, mean best)
    for entry in ENTRIES:
        ok = complete(entry)
        recs = [_record(entry, m) for m in ok.values()]
        runs += recs
        missing = [s for s in entry.seeds if s not in ok]
        if missing:
            pending.append(f"`{entry.label}` seed{'s' if len(missing) > 1 else ''} {', '.join(map(str, missing))}")
        if not recs:
            continue
        v, n = recs[0]["verdict"], len(recs)
        reached = [r["target_epoch"] for r in recs if r["target_epoch"] is not None]
        mean_best = statistics.mean(r["best_acc"] for r in recs)
        stats[entry.label] = (n, len(reached), mean_best)
        rows.append("| " + " | ".join([
            f"`{entry.label}`" + (f" ({entry.note})" if entry.note else ""),
            entry.writeup or "ours",
            f"{recs[0]['params']:,}",
            " / ".join(_yn(v[k]) for k in ("uses_bn", "uses_dropout", "uses_gap", "uses_fc")),
            CLAIMED.get(entry.writeup, "—"),
            f"{n}/{len(entry.seeds)}",
            _mean_std([r["best_acc"] for r in recs]) + "%",
            ", ".join(str(r["best_epoch"]) for r in recs),
            f"{len(reached)}/{n}",
            ", ".join(str(r["target_epoch"]) if r["target_epoch"] else "—" for r in recs),
            _mean_std([r["test_acc"] for r in recs]) + "%",
            f"{recs[0]['epochs']}",
            f"{statistics.median(r['wall_s'] for r in recs) / 60:.0f}",
        ]) + " |")
        curves.append((entry.label, recs))
        seeds = f"seed{'s' if n > 1 else ''} {', '.join(str(r['seed']) for r in recs)}"
        if _holds_so_far(stats[entry.label]):
            verdicts.append(f"- `{entry.label}`: reaches {TARGET}% in every run so far ({seeds}), "
                            f"mean best {mean_best:.2f}%.")
        else:
            verdicts.append(f"- `{entry.label}`: **does not hold**: {len(reached)} of {n} runs ({seeds}) reach "
                            f"{TARGET}%, mean best {mean_best:.2f}%.")

    of_record, record_lines = rows_of_record(stats)
    OUT.mkdir(parents=True, exist_ok=True)
    write_json(OUT / "results.json", {"runs": runs, "pending": pending, "row_of_record": of_record})
    _plot(curves, OUT / "curves.png")
    devices = sorted({r["device"] for r in runs})
    hours = sum(r["wall_s"] for r in runs) / 3600
    header = ("| model | write-up | params | BN / Dropout / GAP / FC | claimed | runs | best acc, mean ± std "
              "| best epoch per seed | runs reaching 99.4% | epoch reaching 99.4% per seed "
              "| final acc, mean ± std | epochs | min per run |")
    sep = "|" + "---|" * (header.count("|") - 1)
    not_yet = ("Not run yet (`make reproduce` trains them; the table fills in on the next `make report`): "
               + "; ".join(pending) + ".") if pending else "Every run of every entry is complete."
    text = f"""# MNIST under 20k parameters: results of record

Generated by `make report` from the run dirs of `make reproduce` (do not edit by hand).
Every run: the official 10k MNIST test set evaluated after each epoch (the assignment's
"validation"), seeds {", ".join(map(str, SEEDS))}; "best acc" is the best epoch's test accuracy
(what the write-ups report), "final acc" the accuracy after the last epoch.
{len(runs)} runs, {hours:.1f} h of training in all (each run's wall time, summed), on: {"; ".join(devices)}.
"min per run" is the median wall time of one run, {JOBS_NOTE}

{header}
{sep}
{chr(10).join(rows)}

{chr(10).join(verdicts)}

Per write-up, the row of record: its own recipe where that holds over all three seeds (every
run reaching {TARGET}%, mean best >= {TARGET}%), else the first second row that does.

{chr(10).join(record_lines)}

{not_yet}

![test accuracy per epoch](curves.png)

Per-run records (per-epoch accuracy, overrides, wall time, device): [results.json](results.json).
Recipes: `conf/experiment/<model>.yaml`, each stating what its write-up says and what we chose
where it is silent. Reproduce: `make reproduce` (skips runs already complete), then `make report`.
"""
    atomic_write(OUT / "README.md", text)
    print(f"wrote {OUT / 'results.json'} ({len(runs)} runs, {len(pending)} entries with runs pending), "
          "README.md, curves.png")
    return 0


def _plot(curves, path: Path) -> None:
    from tinynets.plots import plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for label, recs in curves:
        n = max(len(r["val_acc"]) for r in recs)
        epochs = range(1, n + 1)
        per_epoch = [[r["val_acc"][i] for r in recs if i < len(r["val_acc"])] for i in range(n)]
        mean = [statistics.mean(v) for v in per_epoch]
        line, = ax.plot(epochs, mean, label=f"{label} ({recs[0]['params']:,} p)")
        ax.fill_between(epochs, [min(v) for v in per_epoch], [max(v) for v in per_epoch],
                        color=line.get_color(), alpha=0.15)
    ax.axhline(99.4, color="k", lw=0.8, ls="--")
    ax.set(xlabel="epoch", ylabel="test accuracy (%)", ylim=(98.5, 99.8),
           title="Official test set, mean of seeds (band: min-max)")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="train the missing runs")
    r.add_argument("labels", nargs="*", help=f"entries to run (default all): {[e.label for e in ENTRIES]}")
    r.add_argument("--jobs", type=int, default=1, help="runs at a time (each gets cores/jobs torch threads)")
    r.add_argument("--seeds", type=int, nargs="+", choices=SEEDS, help="only these seeds (default all)")
    sub.add_parser("report", help="write results.json, README.md and curves.png")
    args = ap.parse_args(argv)
    return run(args.labels, args.jobs, args.seeds) if args.cmd == "run" else report()


if __name__ == "__main__":
    sys.exit(main())
