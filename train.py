"""tinynets training entry point: `python train.py model=gap_fc lr=0.04`, `python train.py -m lr=0.01,0.02`.

Configuration lives in conf/ (Hydra); the work is done by tinynets.run (`python -m tinynets.run`
is the same command for an installed tinynets)."""

from tinynets.run.__main__ import main, run_with_one_line_errors

if __name__ == "__main__":
    run_with_one_line_errors(main)  # Hydra's own errors as one line, status 2
