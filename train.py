"""tinynets training entry point: `python train.py model=gap_fc lr=0.04`, `python train.py -m lr=0.01,0.02`.

Configuration lives in conf/ (Hydra); the work is done by tinynets.train.run."""

import hydra
from omegaconf import DictConfig

import tinynets  # noqa: F401  registers the resolvers conf/ uses (light: omegaconf only)


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    from tinynets.train import run  # imported here so that --help stays fast

    return run(cfg)


if __name__ == "__main__":
    from tinynets.cli import run_with_one_line_errors  # Hydra's own errors as one line, status 2

    run_with_one_line_errors(main)
