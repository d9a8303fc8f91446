"""tinynets installed as a wheel (not editable, not the checkout) works from another directory: its
configs come from the package, `python -m tinynets.models.summary` and a `python -m tinynets.run debug=fast`
training run there. The throwaway environment reuses the dependencies already installed here."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A venv whose tinynets is the wheel built from this checkout (dependencies: this interpreter's)."""
    tmp = tmp_path_factory.mktemp("wheel")
    # the checkout's files as git sees them (no stale build/ dir, no local outputs), built from a copy
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.split("\0")
    for name in filter(None, listed):
        src, dst = ROOT / name, tmp / "src" / name
        if src.is_symlink() or src.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst, follow_symlinks=False)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(tmp / "dist"), str(tmp / "src")], env=_env(), capture_output=True, text=True,
                           timeout=600)
    assert built.returncode == 0, built.stderr[-3000:]
    wheel = next((tmp / "dist").glob("tinynets-*.whl"))
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp / "venv")], check=True, timeout=120)
    python = tmp / "venv" / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    done = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
                           "--no-index", str(wheel)], env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    # then the dependencies installed here, after the venv's own site-packages (where the wheel went)
    with open(os.path.join(site, "deps.pth"), "w") as f:
        f.write(sysconfig.get_paths()["purelib"] + "\n")
    return python, wheel, tmp


def _env() -> dict[str, str]:
    """No PYTHONPATH: neither the checkout's src nor its egg-info is importable."""
    return {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, "OMP_NUM_THREADS": "1",
            "PYTHONWARNINGS": "ignore"}


def _run(python, *args, cwd, timeout=600):
    return subprocess.run([str(python), *args], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)


def test_the_wheel_ships_the_configs_and_templates(installed):
    _, wheel, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"tinynets/conf/train.yaml", "tinynets/conf/model/sep.yaml", "tinynets/conf/hydra/default.yaml",
            "tinynets/results/report.md", "hydra_plugins/tinynets_optuna_sweeper/tinynets_optuna_sweeper.py",
            "tinynets/search/__init__.py", "tinynets/deploy/__init__.py", "tinynets/deploy/export.py"} <= names
    shipped = {f"tinynets/conf/{p.relative_to(ROOT / 'conf').as_posix()}" for p in (ROOT / "conf").rglob("*.yaml")}
    assert len(shipped) > 50 and shipped <= names, sorted(shipped - names)[:5]  # every config, not just a few


def test_summary_and_a_training_run_from_outside_the_checkout(installed, tmp_path, tiny_mnist):
    python, _, _ = installed
    where = _run(python, "-c", "import tinynets; print(tinynets.__file__)", cwd=tmp_path)
    assert where.returncode == 0 and str(ROOT) not in where.stdout, where.stdout + where.stderr
    summary = _run(python, "-m", "tinynets.models.summary", "model=sep", cwd=tmp_path)
    assert summary.returncode == 0, summary.stderr[-2000:]
    assert summary.stdout.strip().endswith("Total params: 4,608")
    run = _run(python, "-m", "tinynets.run", "debug=fast", "data.verify=false", f"paths.data_dir={tiny_mnist}",
               "hydra.run.dir=run", cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert (record["status"], record["model"], record["params"], record["epochs"]) == ("ok", "sep", 4608, 1)
    assert record["code"] == {"commit": None, "dirty": None}  # an installed wheel is no checkout
    assert (tmp_path / "run" / "train.log").exists() and (tmp_path / "run" / ".hydra" / "config.yaml").exists()
