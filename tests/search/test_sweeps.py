"""Multirun sweeps: job dirs named by overrides and seed, the leaderboard at the sweep root,
failure isolation, TensorBoard's HPARAMS across jobs, the launchers (joblib, submitit) and
DDP on CPU. Data: tiny synthetic IDX files; debug=fast (one epoch of a few batches)."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.helpers import ROOT, tiny
from tests.helpers.sweeps import read_csv, run_train, train_inprocess

pytestmark = pytest.mark.usefixtures("one_thread")

def job_name(overrides: str, seed: int) -> str:
    """A job's subdir: its overrides (sorted, as Hydra's override_dirname) but the seed, then the seed."""
    return f"data.verify=False,debug=fast,{overrides},~callbacks.test_figures=null/seed={seed}"


def metrics_of(job: Path) -> dict:
    return json.loads((job / "metrics.json").read_text())


@pytest.mark.slow
def test_leaderboard_of_a_2x2_sweep(tmp_path, tiny_mnist):
    sweep = tmp_path / "sweep"
    code, err = train_inprocess("-m", "model=deep_narrow,gap_conv", "seed=0,1", *tiny(tiny_mnist),
                                f"hydra.sweep.dir={sweep}")
    assert code == 0, err

    # job dirs: the overrides without the seed (the group), then seed=N
    jobs = {p.parent.relative_to(sweep).as_posix() for p in sweep.rglob("metrics.json")}
    assert jobs == {job_name(f"model={m}", s) for m in ("deep_narrow", "gap_conv") for s in (0, 1)}

    rows = read_csv(sweep / "leaderboard.csv")
    assert [r["rank"] for r in rows] == ["1", "2", "3", "4"]
    # the swept keys are columns of their own; what every job shares is said once, above the table
    assert list(rows[0])[:5] == ["rank", "job", "model", "seed", "status"]
    assert {"best_val_acc", "params", "best_epoch", "target_epoch", "test_acc", "verdict", "wall_s"} <= rows[0].keys()
    md = (sweep / "leaderboard.md").read_text()
    assert f"Every job: `debug=fast data.verify=False ~callbacks.test_figures=null paths.data_dir={tiny_mnist}`" in md
    assert "| model=gap_conv | 2 | 2 | 0 1 |" in md  # the seeds table names a configuration by what differs
    accs = [float(r["best_val_acc"]) for r in rows]
    assert accs == sorted(accs, reverse=True)
    for r in rows:  # every cell comes from the job's own metrics.json
        m = metrics_of(sweep / r["job"])
        assert r["status"] == "ok" and m["status"] == "ok"
        assert float(r["best_val_acc"]) == pytest.approx(m["best_val_acc"])
        assert float(r["test_acc"]) == pytest.approx(m["test_acc"])
        assert int(r["params"]) == m["params"] == {"deep_narrow": 12_088, "gap_conv": 10_066}[m["model"]]
        assert r["model"] == m["model"] and r["seed"] == str(m["seed"])

    # seeds grouped: mean and std over the two seeds of each model
    groups = {g["group"]: g for g in read_csv(sweep / "leaderboard_seeds.csv")}
    assert len(groups) == 2
    for model in ("deep_narrow", "gap_conv"):
        (key,) = [k for k in groups if f"model={model}" in k]
        g = groups[key]
        assert "seed=" not in key and g["n"] == "2" and g["seeds"] == "0 1"
        accs = [metrics_of(sweep / job_name(f"model={model}", s))["best_val_acc"] for s in (0, 1)]
        assert float(g["objective_mean"]) == pytest.approx(statistics.mean(accs))
        assert float(g["objective_std"]) == pytest.approx(statistics.stdev(accs))
    md = (sweep / "leaderboard.md").read_text()
    assert md.count("\n| ") == 1 + 4 + 1 + 2 and "mean ± std" in md
    assert (sweep / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # TensorBoard: the sweep root is one logdir; each job is a run with its overrides as hparams
    from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer
    from tensorboard.plugins.hparams import plugin_data_pb2

    mux = EventMultiplexer().AddRunsFromDirectory(str(sweep))
    mux.Reload()
    hp_runs = mux.PluginRunToTagToContent("hparams")
    assert len(hp_runs) == 4
    for run, tags in hp_runs.items():
        info = plugin_data_pb2.HParamsPluginData.FromString(tags["_hparams_/session_start_info"]).session_start_info
        m = metrics_of(sweep / run)
        assert info.hparams["model"].string_value == m["model"]
        assert info.hparams["seed"].number_value == m["seed"]
        # the last step's value (two event files of one second may be read in either order)
        assert max(mux.Scalars(run, "hp/best_val_acc"), key=lambda e: e.step).value == pytest.approx(m["best_val_acc"], abs=1e-4)
        assert max(mux.Scalars(run, "hp/params"), key=lambda e: e.step).value == m["params"]


def test_a_failed_job_does_not_stop_the_sweep(tmp_path, tiny_mnist):
    sweep = tmp_path / "sweep"
    code, err = train_inprocess("-m", "model=gap_fc,deep_narrow", "max_params=15000", *tiny(tiny_mnist),
                                f"hydra.sweep.dir={sweep}")
    assert code == 1  # the sweep completes, then reports the failure
    failed_job = job_name("max_params=15000,model=gap_fc", 0)
    assert err.strip().splitlines()[-1].startswith(f"error: 1 of 2 jobs failed ({failed_job}: failed: "
                                                   "model='gap_fc' is not allowed")
    rows = {r["job"]: r for r in read_csv(sweep / "leaderboard.csv")}
    ok = rows[job_name("max_params=15000,model=deep_narrow", 0)]
    assert ok["status"] == "ok" and ok["rank"] == "1"
    assert rows[failed_job]["status"] == ("failed: model='gap_fc' is not allowed: it has 19,629 params, "
                                          "over max_params=15000")
    failed = metrics_of(sweep / failed_job)
    assert failed["status"] == "failed" and failed["params"] == 19_629
    assert "Traceback" not in err


def test_two_sweeps_started_at_once_get_their_own_roots(tmp_path):
    cmd = [sys.executable, "train.py", "--cfg", "all", "--resolve", "--package", "hydra.sweep"]
    env = {"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"}
    procs = [subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    dirs = [next(line.split(":", 1)[1].strip() for line in p.communicate(timeout=120)[0].splitlines()
                 if line.strip().startswith("dir:")) for p in procs]
    assert all(d.startswith("outputs/sweeps/") for d in dirs)
    assert dirs[0] != dirs[1]


def test_job_subdir_names():
    from tinynets.config import job_subdir

    assert job_subdir("lr=0.01,model=gap_fc", 2) == "lr=0.01,model=gap_fc/seed=2"
    assert job_subdir("", 0) == "default/seed=0"  # never an absolute path
    assert job_subdir("paths.x=/a/b", 0) == "paths.x=_a_b/seed=0"
    long = job_subdir("x" * 400, 0)
    assert len(long.split("/")[0]) <= 200 and long != job_subdir("x" * 399 + "y", 0)


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["joblib", "local"])
def test_two_jobs_through_a_launcher(tmp_path, tiny_mnist, launcher):
    """joblib (local worker processes) and submitit (hydra/launcher=local: the SLURM path without
    a cluster): both jobs run in other processes; the sweep root, named with this process's pid,
    is the same for both."""
    extra = ["hydra.launcher.n_jobs=2"] if launcher == "joblib" else []
    done = run_train("-m", f"hydra/launcher={launcher}", *extra, "model=deep_narrow,gap_conv",
                   *tiny(tiny_mnist), f"hydra.sweep.dir={tmp_path}/sweep_${{tinynets.pid:}}")
    assert done.returncode == 0, done.stderr[-3000:]
    (sweep,) = tmp_path.glob("sweep_*")
    rows = read_csv(sweep / "leaderboard.csv")
    assert sorted(r["job"] for r in rows) == [job_name(f"model={m}", 0) for m in ("deep_narrow", "gap_conv")]
    assert all(r["status"] == "ok" for r in rows)
    pids = {metrics_of(sweep / r["job"])["pid"] for r in rows}
    assert int(sweep.name.split("_")[1]) not in pids  # the jobs ran in other processes


def test_slurm_launcher_config_makes_an_sbatch_script(make_cfg, tmp_path, monkeypatch):
    """No cluster here: build submitit's sbatch script from hydra/launcher=slurm, as the launcher
    does (submitit only checks that `srun` exists: we say it does)."""
    import submitit
    from omegaconf import OmegaConf
    from submitit.slurm.slurm import SlurmExecutor

    monkeypatch.setattr(SlurmExecutor, "affinity", classmethod(lambda cls: 1))

    cfg = make_cfg("hydra/launcher=slurm", "hydra.launcher.partition=gpu", "hydra.launcher.gpus_per_node=4",
                   "hydra.launcher.tasks_per_node=4", "trainer=ddp", "trainer.devices=4")
    params = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    assert params.pop("_target_").endswith("SlurmLauncher")
    folder = params.pop("submitit_folder")
    executor = submitit.AutoExecutor(cluster="slurm", folder=tmp_path / "submitit",
                                     slurm_max_num_timeout=params.pop("max_num_timeout"))
    base = {"timeout_min", "cpus_per_task", "gpus_per_node", "tasks_per_node", "mem_gb", "nodes", "name"}
    executor.update_parameters(**{k if k in base else f"slurm_{k}": v for k, v in params.items()})
    script = executor._executor._make_submission_file_text("python train.py", "uid")
    for line in ("#SBATCH --partition=gpu", "#SBATCH --gpus-per-node=4", "#SBATCH --ntasks-per-node=4",
                 "#SBATCH --time=120", "#SBATCH --cpus-per-task=4"):
        assert line in script
    assert "${hydra.sweep.dir}" not in folder and folder.endswith(".submitit/%j")


@pytest.mark.slow
def test_ddp_two_cpu_processes(tmp_path, tiny_mnist):
    run_dir = tmp_path / "run"
    done = run_train("trainer=ddp", "trainer.devices=2", "trainer.accelerator=cpu",
                   *tiny(tiny_mnist), f"hydra.run.dir={run_dir}")
    assert done.returncode == 0, done.stderr[-3000:]
    m = metrics_of(run_dir)
    assert m["world_size"] == 2 and m["status"] == "ok"
    assert m["history"][0]["val_total"] == 128  # each rank evaluated half; the counts were synced
    assert done.stdout.count("[Epoch 1]") == 1  # one line per epoch, not one per rank
    assert (run_dir / "train_ddp_process_1.log").exists()  # Lightning started rank 1 as a process
    assert {p.name for p in (run_dir / "checkpoints").iterdir()} == {"best.ckpt", "last.ckpt"}


def test_ddp_shards_every_epoch_between_ranks():
    from tinynets.data.mnist import TensorBatches

    x, y = torch.arange(103).view(103, 1), torch.arange(103)
    train = [TensorBatches(x, y, 8, shuffle=True, seed=1, epoch=lambda: 3, rank=r, world_size=2) for r in (0, 1)]
    shards = [torch.cat([b[1] for b in t]) for t in train]
    assert len(shards[0]) == len(shards[1]) == 51 and len(train[0]) == len(train[1]) == 7
    assert not set(shards[0].tolist()) & set(shards[1].tolist())
    single = torch.cat([b[1] for b in TensorBatches(x, y, 8, shuffle=True, seed=1, epoch=lambda: 3)])
    assert torch.equal(torch.cat(shards), single[:102])  # the epoch's order, cut in two
    evals = [torch.cat([b[1] for b in TensorBatches(x, y, 10, rank=r, world_size=2)]) for r in (0, 1)]
    assert sorted(torch.cat(evals).tolist()) == list(range(103))  # every eval image exactly once


def test_ddp_in_a_local_multirun_is_refused(make_cfg):
    from tinynets.errors import ConfigError
    from tinynets.run.classify import check_launch

    cfg = make_cfg("trainer=ddp")
    check_launch(cfg, multirun=False)
    with pytest.raises(ConfigError, match=r"^trainer.strategy='ddp' is not allowed: DDP with several devices"):
        check_launch(cfg, multirun=True)
