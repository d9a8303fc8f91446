# tinynets: `make train` (installs, prepares MNIST, trains the default model) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DATA   ?= data
ARGS   ?=
PYTEST_ARGS ?=
# test processes side by side (pytest-xdist); the tests that share the live PostgreSQL and SLURM keep to one
TEST_JOBS ?= 2

# this checkout's sources first, whichever checkout the venv was installed from
export PYTHONPATH := $(CURDIR)/src$(if $(PYTHONPATH),:$(PYTHONPATH))

.PHONY: install data train test search summary clean-outputs reproduce report docs backprop-report bench bench-fast bench-startup bench-sweeps bench-search bench-gpu

install: $(STAMP)

# idempotent: reinstalls only when pyproject.toml changes
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "tinynets needs Python >= 3.10")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,cluster]'
	@touch $(STAMP)

data: $(STAMP)
	$(BIN)/python -m tinynets.data.prepare --root $(DATA)

train: data
	$(BIN)/python train.py paths.data_dir=$(abspath $(DATA)) $(ARGS)

# a search by N asynchronous workers on one study: make search WORKERS=2 ARGS="hparams_search=frontier"
WORKERS ?= 2
search: data
	$(BIN)/python -m tinynets.search.workers $(WORKERS) paths.data_dir=$(abspath $(DATA)) $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_JOBS) --dist loadgroup $(PYTEST_ARGS)

summary: $(STAMP)
	@for m in gap_fc gap_conv transition aggregator deep_narrow; do \
		$(BIN)/python -m tinynets.models.summary model=$$m | tail -n 1 | sed "s/^/$$m: /"; done

# experiments/backprop_sheet/README.md and its figures, from fresh runs of the era and eva lr sweeps
backprop-report: $(STAMP)
	$(BIN)/python -m tinynets.backprop.readme

clean-outputs:
	rm -rf outputs/runs outputs/sweeps

# results of record (hours on CPU): trains what is missing, then regenerates the report
JOBS ?= 2
reproduce: data
	$(BIN)/python -m tinynets.results run --jobs $(JOBS) $(ENTRIES)
	$(MAKE) report

report: $(STAMP)
	$(BIN)/python -m tinynets.results report
	$(BIN)/python -m tinynets.results docs

# the generated blocks of README.md and docs/*.md, rendered again from experiments/ and conf/ (no
# training; report and the bench targets run it after writing their records)
docs: $(STAMP)
	$(BIN)/python -m tinynets.results docs

# speed (experiments/bench/): throughput of the write-ups' pipeline, tinynets and a raw loop
# side by side, 5 interleaved repeats (~15 min on a 2-core CPU, ~6 with ARGS=--no-options); time to
# 99.4% of experiment=fast (3 seeds) and its ratio to one write-up epoch, 3 interleaved repeats (~6 min);
# start-up; a CPU sweep with the basic launcher vs joblib; the GPU bench (gpu.json). Each refuses to
# start from a tree with uncommitted changes (ARGS=--allow-dirty: measure, record nothing)
bench: data
	$(BIN)/python -m tinynets.bench $(ARGS)
	$(BIN)/python -m tinynets.results docs

bench-fast: data
	$(BIN)/python -m tinynets.bench fast $(ARGS)
	$(BIN)/python -m tinynets.results docs

bench-startup: data
	$(BIN)/python -m tinynets.bench startup $(ARGS)
	$(BIN)/python -m tinynets.results docs

bench-sweeps: data
	$(BIN)/python -m tinynets.bench sweeps $(ARGS)
	$(BIN)/python -m tinynets.results docs

# a fixed 6-trial search batched (joblib, 2 at a time) and by 1 and 2 asynchronous workers: trials per
# hour and idle worker-seconds, 3 interleaved repeats (8 min on a 2-core AMD EPYC, 2026-12-04)
bench-search: data
	$(BIN)/python -m tinynets.bench search $(ARGS)
	$(BIN)/python -m tinynets.bench search-workers
	$(BIN)/python -m tinynets.results docs

bench-gpu: data
	$(BIN)/python -m tinynets.bench gpu $(ARGS)
	$(BIN)/python -m tinynets.results docs
