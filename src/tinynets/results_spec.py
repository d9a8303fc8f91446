"""The results of record's spec: conf/results.yaml's entries and seeds, each entry's write-up
(the id and claim its model's conf/model/*.yaml carries), and the target (train.yaml's target_acc)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "conf" / "results.yaml"  # the entries, their seeds, public figures


@dataclass(frozen=True)
class Entry:
    label: str
    overrides: tuple[str, ...]
    writeup: str | None = None  # the write-up id of the model it trains (conf/model/*.yaml), None: ours
    note: str = ""
    seeds: tuple[int, ...] = (0, 1, 2)


@dataclass(frozen=True)
class Spec:
    entries: list[Entry]  # results of record: the official test set after every epoch
    screen: list[Entry]  # recipe screen on a holdout of train
    seeds: tuple[int, ...]
    writeups: dict  # write-up id -> {id, claimed, acc}, from conf/model/*.yaml
    public: list[dict]  # published results: {params, acc, epochs}
    ours: dict[str, list[str]]  # our rows drawn in the figures, by curves.png panel
    target: float  # train.yaml's target_acc


def model_writeups(conf: Path = ROOT / "conf") -> dict[str, dict]:
    """model option -> its write-up ({id, claimed, acc}), from conf/model/*.yaml (the one place)."""
    from omegaconf import OmegaConf

    found = {f.stem: OmegaConf.to_container(OmegaConf.load(f)).get("writeup") for f in (conf / "model").glob("*.yaml")}
    return dict(sorted(((m, w) for m, w in found.items() if w), key=lambda mw: mw[1]["id"]))


def model_of(overrides: tuple[str, ...], conf: Path = ROOT / "conf") -> str | None:
    """The model option `python train.py <overrides>` trains: its `model=`, else its experiment's, else train.yaml's."""
    from omegaconf import OmegaConf

    chosen = dict(o.split("=", 1) for o in overrides if "=" in o)
    if "model" in chosen:
        return chosen["model"]
    files = [conf / "experiment" / f"{chosen['experiment']}.yaml"] if "experiment" in chosen else []
    for f in [*files, conf / "train.yaml"]:
        for d in OmegaConf.to_container(OmegaConf.load(f)).get("defaults") or []:
            picked = [v for k, v in d.items() if k.split()[-1].lstrip("/") == "model"] if isinstance(d, dict) else []
            if picked:
                return picked[0]
    return None


def load_spec(path: Path = SPEC) -> Spec:
    from omegaconf import OmegaConf

    spec = OmegaConf.to_container(OmegaConf.load(path))
    seeds = tuple(spec["seeds"])
    of_model = model_writeups()

    def entries(key: str, default_seeds: tuple[int, ...]) -> list[Entry]:
        return [Entry(e["label"], tuple(e["overrides"]),
                      (of_model.get(model_of(tuple(e["overrides"]))) or {}).get("id"), e.get("note", ""),
                      tuple(e.get("seeds", default_seeds))) for e in spec.get(key) or []]

    return Spec(entries("entries", seeds), entries("screen", (0,)), seeds,
                {w["id"]: w for w in of_model.values()}, spec["public"],
                dict(spec.get("ours") or {}), float(OmegaConf.load(ROOT / "conf" / "train.yaml").target_acc))
