"""`python -m tinynets.results docs [--check]` (`make docs`): the generated blocks of README.md and
docs/*.md, rendered from the records in experiments/ alone (the results of record's results.json and
entries.yaml, the bench's results.json, the frontier searches' pareto.csv) and from conf/. A block is
the text between `<!-- generated: NAME -->` and `<!-- /generated -->`; everything else in a page is
prose and stays as written. No number in a block is typed by hand: change the record, run `make docs`."""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any

from tinynets.errors import UserError
from tinynets.files import atomic_write, read_csv, read_json
from tinynets.results.compare import compare
from tinynets.results.published import public, public_line
from tinynets.results.rows import by_label as _by_label
from tinynets.results.rows import of_record
from tinynets.results.rows import recipe as _recipe
from tinynets.results.rows import table as _table
from tinynets.tables import number

BLOCK = re.compile(r"(<!-- generated: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /generated -->)", re.DOTALL)
PAGES = ("README.md", "docs/*.md")  # under the root: the files whose blocks are generated
RESULTS = Path("experiments") / "mnist_under_20k"
BENCH = Path("experiments") / "bench"
FRONTIER = Path("experiments") / "frontier_search"


class Records:
    """What the blocks are rendered from, read once each from the checkout at `root`."""

    def __init__(self, root: Path, conf: Path | None = None) -> None:
        self.root, self._conf = Path(root), conf

    @cached_property
    def conf(self) -> Path:
        from tinynets.config import conf_dir
        return self._conf or conf_dir()

    @cached_property
    def results(self) -> dict[str, Any]:
        return read_json(self.root / RESULTS / "results.json") or {}

    @cached_property
    def bench(self) -> dict[str, Any]:
        return read_json(self.root / BENCH / "results.json") or {}

    @cached_property
    def gpu(self) -> dict[str, Any]:
        return read_json(self.root / BENCH / "gpu.json") or {}

    @cached_property
    def entries(self) -> dict[str, Any]:
        return _yaml(self.root / RESULTS / "entries.yaml")

    @cached_property
    def train(self) -> dict[str, Any]:
        return _yaml(self.conf / "train.yaml")

    @property
    def target(self) -> float:
        return float(self.train["target_acc"])


def _yaml(path: Path) -> dict[str, Any]:
    from omegaconf import OmegaConf
    return OmegaConf.to_container(OmegaConf.load(path)) if path.is_file() else {}


# ---- numbers as the pages show them -------------------------------------------------------------

def _mean_std(xs: list[float]) -> str:
    shown = xs[:1] if len(xs) == 1 else [statistics.mean(xs), statistics.stdev(xs)]
    return " ± ".join(number(x, digits=2) for x in shown) + "%"


def _x(a: float | None, b: float | None) -> str:
    """a over b as a speed ratio, `n/a` when either is missing."""
    return f"{number(a / b, digits=2)}x" if a and b else "n/a"


def _code(section: dict[str, Any]) -> str:
    """The commit a bench section ran, as recorded (a full one, or the short form older records kept)."""
    code = section.get("code") or {}
    if not code.get("commit"):
        return f"commit {section['git']}" if section.get("git") else "commit not recorded"
    return f"commit {code['commit'][:7]}" + (", dirty tree" if code.get("dirty") else "")


# ---- the results of record (experiments/mnist_under_20k/results.json) --------------------------

def _stats_cells(recs: list[dict[str, Any]], target: float) -> list[str]:
    finals = [r["val_acc"][-1] for r in recs]
    return [str(len(recs)), _mean_std([r["best_acc"] for r in recs]), _mean_std(finals),
            f"{sum(r['target_epoch'] is not None for r in recs)}/{len(recs)}",
            f"{sum(a >= target for a in finals)}/{len(recs)}", str(max(r["epochs"] for r in recs))]


NO_RESULTS = [f"No results of record yet: `make reproduce` trains them into {RESULTS / 'results.json'}."]


def results_table(rec: Records) -> list[str]:
    if not rec.results.get("runs"):
        return NO_RESULTS
    by, t = _by_label(rec.results["runs"]), rec.target
    rows = [[f"`{x}`", by[x][0].get("writeup") or "ours", number(by[x][0]["params"], sep=True), *_stats_cells(by[x], t)]
            for x in of_record(rec)]
    return _table(["row", "write-up", "params", "seeds", "best test acc", "final test acc",
                   f"runs reaching {t}%", f"runs ending ≥ {t}%", "epochs"], rows)


def results_all(rec: Records) -> list[str]:
    if not rec.results.get("runs"):
        return NO_RESULTS
    by, t, chosen = _by_label(rec.results["runs"]), rec.target, set(of_record(rec))
    rows = []
    for label, recs in by.items():
        minutes = statistics.median(r["wall_s"] for r in recs) / 60
        rows.append([f"**`{label}`**" if label in chosen else f"`{label}`", recs[0].get("writeup") or "ours",
                     number(recs[0]["params"], sep=True), f"`{_recipe(recs)}`", *_stats_cells(recs, t),
                     ", ".join(str(r["target_epoch"] or "—") for r in recs), number(minutes, digits=0)])
    runs = rec.results["runs"]
    hours, devices = sum(r["wall_s"] for r in runs) / 3600, "; ".join(sorted({r["device"] for r in runs}))
    return [f"{len(runs)} runs, {number(hours, digits=1)} h of training in all, on: {devices}.",
            "", *_table(["entry", "write-up", "params", "overrides", "seeds", "best test acc", "final test acc",
                         f"runs reaching {t}%", f"runs ending ≥ {t}%", "epochs", f"epoch reaching {t}% per seed",
                         "min per run (median)"], rows)]


def screen(rec: Records) -> list[str]:
    runs = rec.results.get("screen") or []
    if not runs:
        return ["No holdout screen recorded."]
    rows = [[f"`{label}`", number(recs[0]["params"], sep=True), f"`{_recipe(recs)}`", ", ".join(str(r["seed"]) for r in recs),
             ", ".join(number(r["best_acc"], digits=2) for r in recs), ", ".join(number(r["val_acc"][-1], digits=2) for r in recs)]
            for label, recs in _by_label(runs).items()]
    return _table(["entry", "params", "overrides", "seeds", "best holdout acc (%)", "final holdout acc (%)"], rows)


# ---- the frontier searches (experiments/frontier_search/<search>/pareto.csv) ---------------------

def frontier(rec: Records) -> list[str]:
    out, t = [], rec.target
    for csv in sorted((rec.root / FRONTIER).glob("*/pareto.csv"), key=lambda p: p.parent.name):
        rows = read_csv(csv)
        board = csv.parent / "leaderboard.csv"
        trials = f"{len(read_csv(board))} trials, " if board.is_file() else ""
        above = [r for r in rows if float(r["best_val_acc"]) >= t]
        link = f"**[`{csv.parent.name}/`](../{FRONTIER.as_posix()}/{csv.parent.name}/pareto.md)**"
        out += [f"{link}: {trials}{len(rows)} on the front, {len(above)} of them at {t}% or above on the holdout.", ""]
        out += _table(["trial", "params", "best holdout acc"],
                      [[r["trial"], number(int(float(r["params"])), sep=True), f"{number(float(r['best_val_acc']), digits=2)}%"] for r in rows])
        out.append("")
    return out[:-1] or ["No frontier search recorded."]


# ---- speed (experiments/bench/results.json) ----------------------------------------------------

def _machines(rec: Records) -> list[tuple[str, dict[str, Any]]]:
    return list((rec.bench.get("machines") or {}).items())


def _machine_line(name: str, m: dict[str, Any], section: dict[str, Any]) -> str:
    cores = (m.get("machine") or {}).get("cores")
    return (f"**{name}**{f', {cores} cores' if cores else ''}: `{section.get('command', '').strip()}`, "
            f"{section.get('date', 'date not recorded')}, {_code(section)}"
            + (" (**quick mode: not a measurement**)" if section.get("quick") else "") + ".")


def throughput(rec: Records) -> list[str]:
    out = []
    for name, m in _machines(rec):
        th = m.get("throughput") or {}
        if not th.get("models"):
            continue
        rows = [[f"`{model}`", number(x["params"], sep=True),
                 *(number(x["img_per_s"][p], digits=0, sep=True) for p in ("seed", "tinynets", "raw")),
                 f"{number(x['speedup_vs_seed_pipeline'], digits=2)}x", number(x["ratio_vs_raw_loop"], digits=3)]
                for model, x in th["models"].items()]
        out += [_machine_line(name, m, th), "",
                *_table(["model", "params", "(a) img/s", "(b) img/s", "(c) img/s", "b/a", "b/c"], rows), ""]
    return out[:-1] or ["No throughput recorded: `make bench`."]


def options(rec: Records) -> list[str]:
    """Each speed option through (b) as a speed-up, from the options `make bench` measured."""
    out = []
    for name, m in _machines(rec):
        th = m.get("throughput") or {}
        rows = []
        for model, x in (th.get("models") or {}).items():
            o = {k: v.get("img_per_s") for k, v in (x.get("options") or {}).items()}
            if not o:
                continue
            rows.append([f"`{model}`", _x(o.get("default"), o.get("channels_last=false")),
                         _x(o.get("bf16-mixed"), o.get("default")), _x(o.get("bf16-mixed"), x["img_per_s"]["seed"]),
                         _x(o.get("compile"), o.get("default")), _x(o.get("default"), o.get("nn.Dropout")),
                         _x(o.get("bf16-mixed"), o.get("bf16-mixed, nn.BatchNorm2d"))])
        if rows:
            out += [_machine_line(name, m, th), "", *_table(
                ["model", "`channels_last=true` over `false`", "`bf16-mixed` over fp32", "`bf16-mixed` over (a)",
                 "`compile=true` over the default", "tinynets `Dropout` over `nn.Dropout`",
                 "tinynets `BatchNorm2d` over `nn.BatchNorm2d` (bf16)"], rows), ""]
    return out[:-1] or ["No options recorded: `make bench`."]


def time_to_target(rec: Records) -> list[str]:
    out = []
    for name, m in _machines(rec):
        for key, f in m.items():
            if not (key.startswith("fast") and isinstance(f, dict) and f.get("runs")):
                continue
            runs, first = f["runs"], next(iter(f["runs"].values()))
            rows = [[str(seed), str(r.get("target_epoch") or "not reached"),
                     f"{number(r['time_to_target_s'], digits=1)} s" if r.get("time_to_target_s") is not None else "—",
                     f"{number(r['wall_s'], digits=1)} s"] for seed, r in runs.items()]
            ratio = f.get("time_to_target_vs_writeup_epoch")
            tail = (f"One write-up epoch (`{f['writeup']['model']}`, pipeline (a), same invocation): "
                    f"{number(f['writeup_epoch_s'], digits=1)} s; slowest seed over it: **{number(ratio, digits=3)}**." if ratio is not None
                    else "No write-up epoch in this invocation." if not f.get("writeup")
                    else "Not every seed reached the target: no ratio.")
            out += [_machine_line(name, m, f) + f" `{f.get('train_command', '')}`: `{first.get('model')}`, "
                    f"{number(first.get('params', 0), sep=True)} params, target {f.get('target_acc')}%.", "",
                    *_table(["seed", "epoch at target", "time to target", "whole command"], rows), "", tail, ""]
    return out[:-1] or ["No time to target recorded: `make bench-fast`."]


def sweeps(rec: Records) -> list[str]:
    out = []
    for name, m in _machines(rec):
        s = m.get("sweeps")
        if not s:
            continue
        rows = [[launcher, f"`{' '.join(x.get('launcher_overrides') or []) or '(none)'}`",
                 f"{x.get('jobs_ok')}/{x.get('jobs')}", f"{number(x['wall_s'], digits=1)} s"] for launcher, x in s["launchers"].items()]
        out += [_machine_line(name, m, s) + f" `{s['train_command']}`:", "",
                *_table(["launcher", "overrides", "jobs", "whole sweep"], rows), "",
                f"Faster: **{s['faster']}** (basic / joblib = {number(s['joblib_vs_basic'], digits=2)}).", ""]
    return out[:-1] or ["No sweep timing recorded: `make bench-sweeps`."]


def search_bench(rec: Records) -> list[str]:
    from tinynets.bench.render import render_search  # the bench README's table, in the same words

    out = [x for name, m in _machines(rec) if m.get("search") for x in [f"**{name}**:", *render_search(m["search"])[2:]]]
    return out or ["No search timing recorded: `make bench-search`."]


def startup(rec: Records) -> list[str]:
    rows = [[name, f"{number(s['help_median_s'], digits=2)} s", f"{number(s['first_step_median_s'], digits=1)} s", s.get("date", ""), _code(s)]
            for name, m in _machines(rec) if (s := m.get("startup"))]
    return _table(["machine", "`train.py --help` (median)", "command to first step (median)", "date", "code"],
                  rows) if rows else ["No start-up timing recorded: `make bench-startup`."]


def gpu(rec: Records) -> list[str]:
    rows = [[name, g.get("device") or "", f"{number(g['deep_narrow_20_epochs_s'], digits=1)} s", f"{number(g['sheet_sweep_s'], digits=1)} s",
             f"{number(g['shared_vs_sequential'], digits=2)}x", g.get("date", ""), _code(g)]
            for name, g in (rec.gpu.get("machines") or {}).items() if not g.get("quick")]
    return _table(["machine", "device", "20 epochs of `deep_narrow`", "backprop-sheet sweep",
                   "18-job sweep sharing the GPU over sequential", "date", "code"], rows) if rows else \
        ["No GPU result recorded: `make bench-gpu` has not run on a GPU for this checkout."]


# ---- configuration (conf/) -----------------------------------------------------------------------

def _opening(path: Path) -> str:
    lines = [x.lstrip("# ").rstrip() for x in path.read_text().splitlines()[:4] if x.startswith("#")]
    return " ".join(x for x in lines if x and not x.startswith("@package"))


def models(rec: Records) -> list[str]:
    rows = []
    for f in sorted((rec.conf / "model").glob("*.yaml")):
        head = _opening(f)
        n = re.search(r"([\d,]+) params", head)
        rows.append([f"`{f.stem}`", n.group(1) if n else "—", head.replace("|", "\\|")])
    return _table(["`model=`", "params", "what (its config's opening comment)"], rows)


def groups(rec: Records) -> list[str]:
    """Every config group under conf/ and its options, train.yaml's default in bold."""
    chosen = {k.split()[-1].lstrip("/"): v for d in rec.train.get("defaults") or [] if isinstance(d, dict)
              for k, v in d.items()}
    rows = []
    for d in sorted(p for p in rec.conf.rglob("*") if p.is_dir() and any(p.glob("*.yaml"))):
        group = d.relative_to(rec.conf).as_posix()
        rows.append([f"`{group}`", ", ".join(f"**`{n}`**" if n == chosen.get(group) else f"`{n}`"
                                             for n in sorted(f.stem for f in d.glob("*.yaml")))])
    return _table(["group", "options (the default in bold)"], rows)


def keys(rec: Records) -> list[str]:
    rows = []
    for line in (rec.conf / "train.yaml").read_text().splitlines():
        top = re.match(r"^(\w+):\s*([^#]*?)\s*(?:#\s*(.*))?$", line)
        if top and top.group(1) != "defaults":
            rows.append([f"`{top.group(1)}`", f"`{top.group(2)}`", (top.group(3) or "").replace("|", "\\|")])
    return _table(["key", "default", "what"], rows)


BLOCKS: dict[str, Callable[[Records], list[str]]] = {  # block name -> what renders it
    "results-table": results_table, "results-all": results_all, "screen": screen, "public-line": public_line,
    "public": public, "frontier": frontier, "throughput": throughput, "options": options, "time-to-target": time_to_target,
    "sweeps": sweeps, "search": search_bench, "startup": startup, "gpu": gpu, "models": models, "config-groups": groups,
    "config-keys": keys, "compare": compare}


# ---- the pages ---------------------------------------------------------------------------------

def pages(root: Path) -> list[Path]:
    return sorted({p for pattern in PAGES for p in Path(root).glob(pattern)})


def regenerate(text: str, rec: Records, where: str = "") -> str:
    """`text` with every generated block rendered again from `rec`."""
    def fill(m: re.Match) -> str:
        name = m.group("name")
        if name not in BLOCKS:
            raise UserError(f"{where}: unknown generated block {name!r} (known: {', '.join(BLOCKS)})")
        return m.group(1) + "\n".join(BLOCKS[name](rec)) + "\n" + m.group(4)

    return BLOCK.sub(fill, text)


def stale(root: Path, rec: Records | None = None) -> dict[Path, str]:
    """page -> its text regenerated, for every page whose generated blocks differ from the records."""
    rec = rec or Records(root)
    out = {}
    for page in pages(root):
        old = page.read_text()
        new = regenerate(old, rec, str(page.relative_to(root)))
        if new != old:
            out[page] = new
    return out


def docs(root: Path | None = None, check: bool = False) -> int:
    """Rewrite the stale pages (or, with `check`, only name them: exit status 1 when any is stale)."""
    root = Path.cwd() if root is None else Path(root)
    if not (root / "README.md").is_file():
        raise UserError(f"--root {root}: not a tinynets checkout (no README.md; run from the repository)")
    changed = stale(root)
    for page, text in changed.items():
        if not check:
            atomic_write(page, text)
    names = ", ".join(str(p.relative_to(root)) for p in changed) or "none"
    print(f"{'stale' if check else 'rewrote'}: {names} ({len(pages(root))} pages, "
          f"{sum(len(BLOCK.findall(p.read_text())) for p in pages(root))} generated blocks)")
    return 1 if check and changed else 0
