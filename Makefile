# Every target installs what it needs: a fresh clone needs nothing but python3, node and npm.
# The virtualenv and node_modules are rebuilt only when their lock files change.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY_OK  := $(VENV)/.installed
JS_OK  := node_modules/.installed
CHECKOV_VENV := .venv-checkov
CHECKOV_OK   := $(CHECKOV_VENV)/.installed
# The Lambda runtime's own, older SDK (README, "Runtime SDK floor").
FLOOR_VENV := .venv-floor
FLOOR_OK   := $(FLOOR_VENV)/.installed
PYTEST_ARGS ?= -n 2 --dist loadfile

.PHONY: test lint unit floor demo chaos build bench lock clean

test: lint unit floor ## Everything CI runs: linters, type checks, the suite, the SDK floor.

$(PY_OK): requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --no-input -r requirements.lock
	touch $@

$(CHECKOV_OK): requirements-checkov.lock
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check --no-input -r requirements-checkov.lock
	touch $@

$(FLOOR_OK): requirements-floor.lock
	$(PYTHON) -m venv $(FLOOR_VENV)
	$(FLOOR_VENV)/bin/pip install --quiet --disable-pip-version-check --no-input -r requirements-floor.lock
	touch $@

$(JS_OK): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

lint: $(PY_OK) $(JS_OK) $(CHECKOV_OK)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m scripts.lint_asl
	$(BIN)/python -m scripts.build --check
	$(BIN)/python -m scripts.floor_lock --check
	$(BIN)/python -m scripts.lint_template --checkov $(CHECKOV_VENV)/bin/checkov

# The tests that reach AWS through the SDK: the tasks against the twin and the scenarios. The
# pure rules' tests read no SDK, so the floor would tell nothing new about them.
SDK_TESTS := tests/unit/test_aws.py tests/unit/test_copy_reader.py tests/unit/test_ledger.py \
	tests/unit/test_task_*.py tests/statemachine

unit: $(PY_OK)
	# The retention cut deletes data early on purpose: its rules' own tests must exercise every
	# branch. Measured on them alone, since tracing the whole suite costs it a third more time.
	$(BIN)/pytest -p no:xdist -q --cov=tasks --cov-branch --cov-report= tests/unit/test_retention.py
	$(BIN)/coverage report --include=tasks/retention.py --show-missing --fail-under=100
	$(BIN)/pytest $(PYTEST_ARGS) --ignore=tests/unit/test_retention.py

floor: $(FLOOR_OK) ## The task tests and state machine scenarios again, on the runtime's SDK.
	$(FLOOR_VENV)/bin/python -c "import botocore; assert botocore.__version__ == '1.35.0', botocore.__version__"
	$(FLOOR_VENV)/bin/pytest $(PYTEST_ARGS) -p no:cacheprovider -m "not slow" $(SDK_TESTS)

build: $(PY_OK) ## Regenerate infrastructure/backup_events_aws.yaml from its sources.
	$(BIN)/python -m scripts.build

demo: $(PY_OK) ## Run the whole workflow on the local AWS twin and draw what happened.
	$(BIN)/python -m scripts.demo

chaos: $(PY_OK) ## 1,000 backups under every fault at once, no operator: nothing silently lost.
	$(BIN)/python -m scripts.chaos $(CHAOS_ARGS)

bench: $(PY_OK) ## Reproduce the figures in the README's benchmark table.
	$(BIN)/python -m scripts.bench $(BENCH_ARGS)

lock: ## Re-resolve requirements.in into exact pins (needs network access to PyPI).
	rm -rf /tmp/backup-events-lock && $(PYTHON) -m venv /tmp/backup-events-lock
	/tmp/backup-events-lock/bin/pip install --quiet -r requirements.in
	{ echo "# Exact pins for every Python package the tests, linters and demo use (transitive included)."; \
	  echo "# Regenerate with 'make lock' after editing requirements.in."; \
	  /tmp/backup-events-lock/bin/pip freeze; } > requirements.lock
	$(PYTHON) -m scripts.floor_lock

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) $(FLOOR_VENV) node_modules build demo-output .pytest_cache .mypy_cache .ruff_cache .hypothesis
