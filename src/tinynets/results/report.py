"""`python -m tinynets.results report` (`make report`): the results of record's results.json,
README.md (filled into the report.md template), curves.png and frontier.png, from the run dirs of
`make reproduce` and the runs results.json already records: nothing is typed by hand. A record that
does not come from a clean commit is refused."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from string import Template

from tinynets.errors import report as report_error
from tinynets.files import atomic_write, read_json, write_json
from tinynets.files import template
from tinynets.results.spec import Entry, Spec
from tinynets.run.metrics import OK, read_metrics, status_of
from tinynets.tables import number


def complete(spec: Spec, entry: Entry) -> dict[int, dict]:
    """seed -> metrics of the entry's complete runs here (each metrics.json read once)."""
    found = {s: read_metrics(spec.run_dir(entry, s)) for s in entry.seeds}
    return {s: m for s, m in found.items() if status_of(m) == OK}


def _record(entry: Entry, m: dict) -> dict:
    return {
        "label": entry.label, "writeup": entry.writeup, "model": m["model"], "params": m["params"],
        "seed": m["seed"], "overrides": m.get("overrides", []), "val_acc": m["val_acc"],
        "best_acc": m["best_val_acc"], "best_epoch": m["best_epoch"], "target_epoch": m["target_epoch"],
        "test_acc": m["test_acc"], "epochs": m["epochs"], "eval_set": m["eval_set"], "wall_s": _wall_s(m),
        "resumed": m.get("resumed_from") is not None, "device": m["device"], "verdict": m["verdict"],
        "code": m.get("code"),
    }


def _wall_s(m: dict) -> float:
    """The run's wall time; a run killed and resumed only timed its last process, so it counts
    its epochs' own times instead (each epoch's training and evaluation, as logged)."""
    if m.get("resumed_from") is None:
        return m["wall_s"]
    return round(sum(e["seconds"] for e in m["history"]), 2)


def records(spec: Spec, entry: Entry, recorded: dict[tuple[str, int], dict]) -> list[dict]:
    """The entry's runs, by seed: a complete run dir here, else the run results.json already
    records for the same overrides (so a clone without the run dirs keeps the results of record)."""
    out = []
    fresh = complete(spec, entry)
    for seed in entry.seeds:
        if seed in fresh:
            out.append(_record(entry, fresh[seed]))
        elif (old := recorded.get((entry.label, seed))) is not None \
                and [o for o in old.get("overrides", []) if not o.startswith("seed=")] == list(entry.overrides):
            out.append(old)
    return out


def unclean(recs: list[dict]) -> list[str]:
    """The records that do not name a commit of a clean tree ('label seed N (why)')."""
    bad = []
    for r in recs:
        code = r.get("code") or {}
        if not code.get("commit") or code.get("dirty") is not False:
            why = "no commit recorded" if not code.get("commit") else \
                f"commit {code['commit'][:7]} with uncommitted changes" if code.get("dirty") else \
                f"commit {code['commit'][:7]}, clean state unknown"
            bad.append(f"{r['label']} seed {r['seed']} ({why})")
    return bad


def _mean_std(xs: list[float]) -> str:
    if not xs:
        return "n/a"
    if len(xs) == 1:  # no spread to speak of
        return f"{xs[0]:.2f}"
    return f"{statistics.mean(xs):.2f} ± {statistics.stdev(xs):.2f}"


@dataclass(frozen=True)
class Stat:
    runs: int  # complete runs
    reached: int  # runs reaching the target at some epoch (a peak)
    mean_best: float
    seeds: int  # runs the entry asks for (at least the default seeds, for a row of record)
    target: float
    final_ok: int = 0  # runs whose final weights are at the target

    @property
    def holds_so_far(self) -> bool:
        """Every run reaches the target and so does the mean."""
        return self.reached == self.runs and self.mean_best >= self.target

    @property
    def holds(self) -> bool:
        return self.runs == self.seeds and self.holds_so_far


def rows_of_record(spec: Spec, stats: dict[str, Stat]) -> tuple[dict[str, str | None], list[str]]:
    """For each write-up, the first of its rows (its own recipe first) that holds over all its seeds."""
    of_record: dict[str, str | None] = {}
    lines = []
    for w in dict.fromkeys(e.writeup for e in spec.entries if e.writeup):
        own, *second = [e for e in spec.entries if e.writeup == w]
        best = next((e for e in (own, *second) if e.label in stats and stats[e.label].holds), None)
        of_record[w] = best.label if best else None
        head = f"- {w} (`{own.label}`): "
        if best is own:
            lines.append(head + f"its own recipe holds, mean best {stats[own.label].mean_best:.2f}%.")
            continue
        mine = stats.get(own.label)
        said = (f"its own recipe does not ({mine.reached} of {mine.runs} runs reach {spec.target}%, mean best "
                f"{mine.mean_best:.2f}%)" if mine else "its own recipe not run yet")
        if mine and mine.holds_so_far:
            said = f"its own recipe holds so far ({mine.runs} of {mine.seeds} seeds run)"
        tail = (f"; `{best.label}` holds, mean best {stats[best.label].mean_best:.2f}%." if best
                else "; no row holds over all seeds yet.")
        lines.append(head + said + tail)
    return of_record, lines


def entry_row(spec: Spec, entry: Entry, recs: list[dict], stat: Stat) -> str:
    v, n = recs[0]["verdict"], len(recs)
    return "| " + " | ".join([
        f"`{entry.label}`" + (f" ({entry.note})" if entry.note else ""),
        entry.writeup or "ours",
        f"{recs[0]['params']:,}",
        " / ".join(number(bool(v[k])) for k in ("uses_bn", "uses_dropout", "uses_gap", "uses_fc")),
        (spec.writeups.get(entry.writeup) or {}).get("claimed", "—"),
        f"{n}/{len(entry.seeds)}",
        _mean_std([r["best_acc"] for r in recs]) + "%",
        _mean_std([r["val_acc"][-1] for r in recs]) + "%",
        ", ".join(str(r["best_epoch"]) for r in recs),
        f"{stat.reached}/{n}",
        f"{stat.final_ok}/{n}",
        ", ".join(str(r["target_epoch"]) if r["target_epoch"] else "—" for r in recs),
        f"{recs[0]['epochs']}",
        f"{statistics.median(r['wall_s'] for r in recs) / 60:.0f}",
    ]) + " |"


def verdict_line(spec: Spec, entry: Entry, recs: list[dict], stat: Stat) -> str:
    seeds = f"seed{'s' if len(recs) > 1 else ''} {', '.join(str(r['seed']) for r in recs)}"
    final = f"final weights at {spec.target}% in {stat.final_ok} of {stat.runs}"
    if stat.holds_so_far:
        return (f"- `{entry.label}`: reaches {spec.target}% in every run so far ({seeds}), mean best "
                f"{stat.mean_best:.2f}%; {final}.")
    short = ", ".join(f"seed {r['seed']} {r['best_acc']:.2f}% ({spec.target - r['best_acc']:.2f} short)"
                      for r in recs if r["target_epoch"] is None)
    return (f"- `{entry.label}`: **does not hold**: {stat.reached} of {len(recs)} runs ({seeds}) reach "
            f"{spec.target}%, mean best {stat.mean_best:.2f}%" + (f"; {short}" if short else "") + f"; {final}.")


HEADER = ("| model | write-up | params | BN / Dropout / GAP / FC | claimed | runs | best acc (peak), mean ± std "
          "| final acc, mean ± std | best epoch per seed | runs reaching {t}% | runs ending at {t}% "
          "| epoch reaching {t}% per seed | epochs | min per run |")


def report(spec: Spec) -> int:
    from tinynets.results import figures

    old = read_json(spec.out / "results.json") or {}
    recorded = {(r["label"], r["seed"]): r for r in old.get("runs", []) + old.get("screen", [])}
    runs, rows, verdicts, pending = [], [], [], []
    by_label: dict[str, list[dict]] = {}
    stats: dict[str, Stat] = {}
    for entry in spec.entries:
        recs = records(spec, entry, recorded)
        runs += recs
        missing = [s for s in entry.seeds if s not in {r["seed"] for r in recs}]
        if missing:
            pending.append(f"`{entry.label}` seed{'s' if len(missing) > 1 else ''} {', '.join(map(str, missing))}")
        if not recs:
            continue
        by_label[entry.label] = recs
        stat = stats[entry.label] = Stat(
            len(recs), sum(r["target_epoch"] is not None for r in recs), statistics.mean(r["best_acc"] for r in recs),
            max(len(entry.seeds), len(spec.seeds)), spec.target, sum(r["val_acc"][-1] >= spec.target for r in recs))
        rows.append(entry_row(spec, entry, recs, stat))
        verdicts.append(verdict_line(spec, entry, recs, stat))
    screen = [r for e in spec.screen for r in records(spec, e, recorded)]
    bad = unclean(runs + screen)
    if bad:
        return report_error(f"{len(bad)} runs of record do not come from a clean commit: {'; '.join(bad[:6])}"
                            f"{' ...' if len(bad) > 6 else ''}; re-run them from a committed tree "
                            "(make reproduce ENTRIES=...)")

    of_record, record_lines = rows_of_record(spec, stats)
    spec.out.mkdir(parents=True, exist_ok=True)
    write_json(spec.out / "results.json", {"runs": runs, "pending": pending, "row_of_record": of_record,
                                           "screen": screen})
    own = {w: next(e.label for e in spec.entries if e.writeup == w) for w in of_record}  # each write-up's recipe
    ours = {title: [x for x in labels if x in by_label] for title, labels in spec.ours.items()}
    panels = [(f"write-up {w}", [x for x in dict.fromkeys([own[w], rec]) if x in by_label])
              for w, rec in of_record.items()] + list(ours.items())
    figures.curves([(title, [(x, by_label[x]) for x in labels]) for title, labels in panels if labels],
                   spec.target, spec.out / "curves.png")
    shown = dict.fromkeys([*(v for v in of_record.values() if v), *(x for xs in ours.values() for x in xs)])
    points = [(x, by_label[x], stats[x].holds) for x in shown]
    claimed = [(w, by_label[own[w]][0]["params"], c["acc"]) for w, c in spec.writeups.items()
               if c.get("acc") is not None and own.get(w) in by_label]
    figures.frontier(points, claimed, spec.public, spec.target, spec.out / "frontier.png")
    header = HEADER.format(t=spec.target)
    not_yet = ("Not run yet (`make reproduce` trains them; the table fills in on the next `make report`): "
               + "; ".join(pending) + ".") if pending else "Every run of every entry is complete."
    text = Template(template("tinynets.results", "report.md")).substitute(
        n_runs=len(runs), hours=f"{sum(r['wall_s'] for r in runs) / 3600:.1f}",
        devices="; ".join(sorted({r["device"] for r in runs})), target=spec.target,
        table="\n".join([header, "|" + "---|" * (header.count("|") - 1), *rows]), verdicts="\n".join(verdicts),
        record_lines="\n".join(record_lines), not_yet=not_yet, screen=screen_table(screen))
    atomic_write(spec.out / "README.md", text)
    print(f"wrote {spec.out / 'results.json'} ({len(runs)} runs, {len(pending)} entries with runs pending), "
          "README.md, curves.png, frontier.png")
    return 0


def screen_table(screen: list[dict]) -> str:
    """The holdout screen: what each entry changed, and its accuracy on the holdout only, per seed
    (the peak epoch's and the final weights'): it chooses recipes and candidates; the test set plays no part."""
    if not screen:
        return ""
    shared = [o for o in screen[0]["overrides"]
              if not o.startswith("seed=") and all(o in r["overrides"] for r in screen)]
    by_label: dict[str, list[dict]] = {}
    for r in screen:
        by_label.setdefault(r["label"], []).append(r)
    lines = ["## Screen on a holdout (chooses recipes and candidates; the test set plays no part)\n",
             f"Every run: `{' '.join(shared)}`: 5,000 training images held out and evaluated after every epoch; "
             "the runs train on the other 55,000.\n",
             "| entry | params | change | seeds | best holdout acc (peak) | final holdout acc | final, mean | "
             "min per run |", "|---|---|---|---|---|---|---|---|"]
    for label, recs in by_label.items():
        r = recs[0]
        change = " ".join(o for o in r["overrides"] if o not in shared and not o.startswith("seed=")) or "—"
        seeds = ", ".join(str(x["seed"]) for x in recs)
        peaks = ", ".join(f"{x['best_acc']:.2f}" for x in recs)
        finals = [x["val_acc"][-1] for x in recs]
        minutes = statistics.median(x["wall_s"] for x in recs) / 60
        lines.append(f"| `{label}` | {r['params']:,} | `{change}` | {seeds} | {peaks}% | "
                     f"{', '.join(f'{v:.2f}' for v in finals)}% | {_mean_std(finals)}% | {minutes:.0f} |")
    return "\n".join(lines)
