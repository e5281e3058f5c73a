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

# Two pytest processes at once: the live tests (marked `server` or `slow`: they start real
# servers) one after another in one, as they would run alone; the in-process tests in the
# other. Each has its own temporary directory; the live log is printed after both end.
unit: $(STAMP)
	@live_dir=$$(mktemp -d); \
	( $(BIN)/pytest -q -rfE -m "server or slow" --durations=15 -p no:cacheprovider \
		--basetemp="$$live_dir/tmp" > "$$live_dir/log" 2>&1; echo $$? > "$$live_dir/rc" ) & \
	$(BIN)/pytest -q -rfE -m "not server and not slow" --durations=10; unit_rc=$$?; \
	wait; echo "== live tests (server, slow) =="; cat "$$live_dir/log"; \
	live_rc=$$(cat "$$live_dir/rc"); rm -rf "$$live_dir"; \
	echo "in-process tests: exit $$unit_rc; live tests: exit $$live_rc"; \
	test "$$unit_rc" -eq 0 && test "$$live_rc" -eq 0

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist src/*.egg-info
