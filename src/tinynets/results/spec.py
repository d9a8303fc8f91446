"""What the results of record are: experiments/mnist_under_20k/entries.yaml's entries, screen and
seeds, each entry's write-up (the id and claim its model's conf/model/*.yaml carries), the published
figures, the target (train.yaml's target_acc), and where their run dirs and report live."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tinynets.config import conf_dir
from tinynets.errors import ConfigError
from tinynets.overrides import as_dict

REPORT_DIR = Path("experiments") / "mnist_under_20k"  # under the root: entries.yaml, results.json, README.md
RUNS_DIR = Path("outputs") / "results"  # under the root: <label>/seed<N>/, one run dir each


@dataclass(frozen=True)
class Entry:
    label: str
    overrides: tuple[str, ...]
    writeup: str | None = None  # the write-up id of the model it trains (conf/model/*.yaml), None: ours
    note: str = ""
    seeds: tuple[int, ...] = (0, 1, 2)
    threads: int | None = None  # torch threads per run (None: the runner's share of the cores)


@dataclass(frozen=True)
class Spec:
    root: Path  # the checkout the results belong to (run dirs and report are under it)
    entries: list[Entry]  # results of record: the official test set after every epoch
    screen: list[Entry]  # recipe screen on a holdout of train
    seeds: tuple[int, ...]
    writeups: dict  # write-up id -> {id, claimed, acc}, from conf/model/*.yaml
    public: list[dict]  # published results: {params, acc, epochs}
    ours: dict[str, list[str]]  # our rows drawn in the figures, by curves.png panel
    target: float  # train.yaml's target_acc

    @property
    def out(self) -> Path:
        return self.root / REPORT_DIR

    @property
    def runs(self) -> Path:
        return self.root / RUNS_DIR

    def run_dir(self, entry: Entry, seed: int) -> Path:
        return self.runs / entry.label / f"seed{seed}"

    def by_label(self) -> dict[str, Entry]:
        return {e.label: e for e in self.entries + self.screen}


def model_writeups(conf: Path) -> dict[str, dict]:
    """model option -> its write-up ({id, claimed, acc}), from conf/model/*.yaml (the one place)."""
    from omegaconf import OmegaConf

    found = {f.stem: OmegaConf.to_container(OmegaConf.load(f)).get("writeup") for f in (conf / "model").glob("*.yaml")}
    return dict(sorted(((m, w) for m, w in found.items() if w), key=lambda mw: mw[1]["id"]))


def model_of(overrides: tuple[str, ...], conf: Path) -> str | None:
    """The model option `python train.py <overrides>` trains: its `model=`, else its experiment's, else train.yaml's."""
    from omegaconf import OmegaConf

    chosen = as_dict(o for o in overrides if "=" in o)
    if "model" in chosen:
        return chosen["model"]
    files = [conf / "experiment" / f"{chosen['experiment']}.yaml"] if "experiment" in chosen else []
    for f in [*files, conf / "train.yaml"]:
        for d in OmegaConf.to_container(OmegaConf.load(f)).get("defaults") or []:
            picked = [v for k, v in d.items() if k.split()[-1].lstrip("/") == "model"] if isinstance(d, dict) else []
            if picked:
                return picked[0]
    return None


def load_spec(root: Path | None = None) -> Spec:
    """The spec of the checkout at `root` (default: the current directory), one line if it has none."""
    from omegaconf import OmegaConf

    root = Path.cwd() if root is None else Path(root)
    path = root / REPORT_DIR / "entries.yaml"
    if not path.is_file():
        raise ConfigError("--root", str(root), f"a tinynets checkout with {REPORT_DIR / 'entries.yaml'} "
                          "(run from the repository, or pass --root)")
    spec = OmegaConf.to_container(OmegaConf.load(path))
    seeds = tuple(spec["seeds"])
    conf = conf_dir()
    of_model = model_writeups(conf)

    def entries(key: str, default_seeds: tuple[int, ...]) -> list[Entry]:
        return [Entry(e["label"], tuple(e["overrides"]),
                      (of_model.get(model_of(tuple(e["overrides"]), conf)) or {}).get("id"), e.get("note", ""),
                      tuple(e.get("seeds", default_seeds)), e.get("threads")) for e in spec.get(key) or []]

    return Spec(root, entries("entries", seeds), entries("screen", (0,)), seeds,
                {w["id"]: w for w in of_model.values()}, spec["public"],
                dict(spec.get("ours") or {}), float(OmegaConf.load(conf / "train.yaml").target_acc))
