"""`python -m tinynets.run [group=option ...] [key=value ...]` (and the top-level `python train.py`,
which calls this `main`): one Hydra application over tinynets' shipped configs; `-m` sweeps."""

import hydra
from omegaconf import DictConfig

import tinynets  # noqa: F401  registers the resolvers conf/ uses (light: omegaconf only)
from tinynets.config import conf_dir
from tinynets.errors import run_with_one_line_errors


@hydra.main(version_base="1.3", config_path=str(conf_dir()), config_name="train")
def main(cfg: DictConfig) -> float | None:
    from tinynets.run.task import run  # imported here so that --help stays fast

    return run(cfg)


if __name__ == "__main__":
    run_with_one_line_errors(main)  # Hydra's own errors as one line, status 2
