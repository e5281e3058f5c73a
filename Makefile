# infermedic developer tasks. Needs only Python 3.11 and make; everything else installs into .venv.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
BASE   := $(VENV)/.installed-base

.PHONY: install demo test lint typecheck unit docs docs-check bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,spark,lightgbm,mlflow,registry]'
	# XGBoost's CPU-only build: the `xgboost` wheel pulls in NCCL (hundreds of MB) for GPUs.
	$(BIN)/python -m pip install --quiet 'xgboost-cpu>=2.0'
	touch $(STAMP)

install: $(STAMP)

# The demo needs only the package itself (FastAPI, scikit-learn and uvicorn are core
# dependencies): a first run should not wait for Spark, MLflow and the test tools.
$(BASE): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(BASE)

## The main job on the embedded default: the demo tour (see README).
demo: $(BASE)
	$(BIN)/infermedic demo

## Lint, types and the whole test suite: what CI runs.
test: $(STAMP) lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

# Two pytest runs, one after the other. First every test that starts no server and fits no
# time budget (neither `server` nor `timed`), on two workers (pytest-xdist; a file's tests
# stay on one worker, so its module fixtures are built once). Then the live and timed tests
# (real servers, budgets measured against their own host) in one process, alone, as before.
# Both always run; the target fails when either does. The slowest tests of each are listed.
unit: $(STAMP)
	$(BIN)/pytest -q -rfE -n 2 --dist loadfile -m "not server and not timed" --durations=25; unit_rc=$$?; \
	$(BIN)/pytest -q -rfE -m "server or timed" --durations=25; live_rc=$$?; \
	echo "in-process tests: exit $$unit_rc; live and timed tests: exit $$live_rc"; \
	test "$$unit_rc" -eq 0 && test "$$live_rc" -eq 0

docs: $(STAMP)
	$(BIN)/python -c "from pathlib import Path; from infermedic.docs import write_docs; write_docs(Path('docs/rules'))"

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist src/*.egg-info
