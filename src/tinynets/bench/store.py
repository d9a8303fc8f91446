"""The bench's records: experiments/bench/results.json keeps the newest result of each bench command
per machine (`machines[<CPU model>[ + <GPU>]][<section>]`) and a compact `history`, one row per bench
invocation with its machine, date, code (`code`: the full commit and whether the tree was dirty),
load and key figures; gpu.json keeps the GPU bench's newest result per machine. Files in the earlier
flat layout (one machine, sections at the top) are read as the new one (`upgrade`); sections and rows
recorded before `code` keep their short `git` string (`code_of` reads both)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tinynets.bench.clock import machine, machine_key
from tinynets.files import read_json, write_json

LAYOUT = 2
UNKNOWN = "unknown machine (recorded before results named the CPU)"


def load_results(out: Path) -> dict[str, Any]:
    """results.json in the per-machine layout (an earlier flat file upgraded in memory)."""
    return upgrade(read_json(out / "results.json") or {})


def load_gpu(out: Path) -> dict[str, Any]:
    return read_json(out / "gpu.json") or {"machines": {}}


def devices_of(section: str, data: dict[str, Any]) -> list[str]:
    """The device strings a section's measurements ran on."""
    if section == "throughput":
        return [m.get("device", "") for m in (data.get("models") or {}).values()]
    return [r.get("device", "") for r in (data.get("runs") or {}).values()] + [data.get("device", "")]


def save(out: Path, section: str, data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Record one bench invocation: its section replaces that machine's newest (gpu: in gpu.json),
    and a row joins the history. Returns (results, gpu) as now on disk."""
    out.mkdir(parents=True, exist_ok=True)
    results, gpu = load_results(out), load_gpu(out)
    m = data.setdefault("machine", machine(devices_of(section, data)))
    key = machine_key(m)
    if section == "gpu":
        gpu["machines"][key] = data
        write_json(out / "gpu.json", gpu)
    else:
        entry = results["machines"].setdefault(key, {"machine": m})
        entry["machine"], entry[section] = m, data
    results["history"].append(history_row(section, data, key))
    write_json(out / "results.json", results)
    return results, gpu


def code_of(data: dict[str, Any]) -> dict[str, Any]:
    """The code a section or history row was measured with: {"commit", "dirty"} as recorded (`code`),
    or for a record from before `code`, {"commit": None, "dirty": None, "git": its short `git` string}
    (a short commit, "+dirty" when the tree had changes; None when not recorded either)."""
    if isinstance(data.get("code"), dict):
        return {"commit": data["code"].get("commit"), "dirty": data["code"].get("dirty")}
    return {"commit": None, "dirty": None, "git": data.get("git")}


def history_row(section: str, data: dict[str, Any], key: str) -> dict[str, Any]:
    """One invocation, compactly: where and when it ran, with which code, and its key figures."""
    load = (data.get("load") or {}).get("before", {}).get("loadavg")
    row: dict[str, Any] = {"section": section, "machine": key, "date": data.get("date"),
                           **({"code": data["code"]} if "code" in data else {"git": data.get("git")}),
                           "loadavg": load, "command": data.get("command"), "quick": bool(data.get("quick"))}
    if section == "throughput":
        models = data.get("models") or {}
        row["b/a"] = {n: m["speedup_vs_seed_pipeline"] for n, m in models.items()}
        row["b/c"] = {n: m["ratio_vs_raw_loop"] for n, m in models.items()}
        if any("ratios" in m for m in models.values()):  # pair by pair within repeats (issue 25)
            row["c/a"] = {n: m.get("ceiling_vs_seed_pipeline") for n, m in models.items()}
            row["b/c_spread"] = {n: [m["ratios"]["b/c"]["min"], m["ratios"]["b/c"]["max"]]
                                 for n, m in models.items() if "ratios" in m}
            row["repeats"] = (data.get("setup") or {}).get("repeats")
    elif "runs" in data:
        row["label"] = data.get("label", section)
        row["time_to_target_s"] = {s: r.get("time_to_target_s") for s, r in data["runs"].items()}
        row["writeup_epoch_s"] = data.get("writeup_epoch_s")
        row["time_to_target_vs_writeup_epoch"] = data.get("time_to_target_vs_writeup_epoch")
        if isinstance(data.get("repeats"), int):  # medians of interleaved repeats (issue 25)
            row["repeats"] = data["repeats"]
            row["target_epoch"] = {s: r.get("target_epochs") for s, r in data["runs"].items()}
    elif section == "startup":
        row["first_step_median_s"] = data.get("first_step_median_s")
        row["help_median_s"] = data.get("help_median_s")
    elif section == "search":
        row["trials_per_hour"] = {k: v["trials_per_hour"]["median"] for k, v in data["modes"].items()}
        row["idle_worker_s"] = {k: v["idle_worker_s"]["median"] for k, v in data["modes"].items()}
        row["repeats"] = data.get("repeats")
    elif section == "search_workers":
        row["trials_per_s"] = {n: {k: r[k]["trials_per_s"] for k in ("ours", "optuna")}
                               for n, r in data["by_count"].items()}
        row["finished"] = {n: {k: r[k]["finished"] for k in ("ours", "optuna")} for n, r in data["by_count"].items()}
    elif section == "sweeps":
        row["sweep_s"] = {k: v["wall_s"] for k, v in data["launchers"].items()}
        row["faster"] = data.get("faster")
    elif section == "gpu":
        row.update({k: data.get(k) for k in ("deep_narrow_20_epochs_s", "sheet_sweep_s", "shared_vs_sequential")})
    return row


def upgrade(old: dict[str, Any]) -> dict[str, Any]:
    """A results.json of the flat layout (throughput's keys at the top, other sections beside them,
    one machine) as the per-machine layout. The machine is the CPU model named in the throughput
    section's device strings ("cpu: <model>, N cores, ..."); the other sections of that file ran
    on the same machine (their device strings named only the architecture)."""
    if "machines" in old:
        return {"layout": LAYOUT, "machines": old["machines"], "history": old.get("history", [])}
    sections = {k: v for k, v in old.items() if isinstance(v, dict) and ("runs" in v or k == "startup")}
    throughput = {k: v for k, v in old.items() if k not in sections}
    m = {"cpu": UNKNOWN, "cores": None, "gpu": None}
    for dev in devices_of("throughput", throughput):
        found = re.match(r"cpu: (.+?), (\d+) cores", dev)
        if found:
            m = {"cpu": found[1], "cores": int(found[2]), "gpu": None}
    key = machine_key(m)
    if throughput.get("models"):
        sections = {"throughput": throughput, **sections}
    if not sections:
        return {"layout": LAYOUT, "machines": {}, "history": []}
    for data in sections.values():
        data.setdefault("machine", m)
    rows = sorted((history_row(s, d, key) for s, d in sections.items()), key=lambda r: r["date"] or "")
    return {"layout": LAYOUT, "machines": {key: {"machine": m, **sections}}, "history": rows}
