"""The results of record for MNIST under 20k parameters (`make reproduce`, `make report`):
spec.py (what is trained, from experiments/mnist_under_20k/entries.yaml), runner.py (trains what is
missing), report.py (results.json and the generated README.md), figures.py (curves.png, frontier.png),
docs.py (the generated blocks of the top README.md and docs/*.md, `make docs`)."""
