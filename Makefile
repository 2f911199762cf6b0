# Every target installs what it needs: a fresh clone needs nothing but python3, node and npm.
# The virtualenv and node_modules are rebuilt only when their lock files change.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY_OK  := $(VENV)/.installed
JS_OK  := node_modules/.installed
CHECKOV_VENV := .venv-checkov
CHECKOV_OK   := $(CHECKOV_VENV)/.installed

.PHONY: test lint unit demo build bench lock clean

test: lint unit ## Everything CI runs: linters, type checks, then the whole pytest suite.

$(PY_OK): requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --no-input -r requirements.lock
	touch $@

$(CHECKOV_OK): requirements-checkov.lock
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check --no-input -r requirements-checkov.lock
	touch $@

$(JS_OK): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

lint: $(PY_OK) $(JS_OK) $(CHECKOV_OK)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python scripts/lint_asl.py
	$(BIN)/python -m scripts.build --check
	$(BIN)/python scripts/lint_template.py --checkov $(CHECKOV_VENV)/bin/checkov

unit: $(PY_OK)
	# The retention cut deletes data early on purpose: every branch of it must be exercised.
	$(BIN)/pytest -q -p no:cacheprovider tests/unit/test_retention.py \
		--cov=tasks.retention --cov-branch --cov-report=term-missing:skip-covered --cov-fail-under=100
	$(BIN)/pytest

build: $(PY_OK) ## Regenerate infrastructure/backup_events_aws.yaml from its sources.
	$(BIN)/python -m scripts.build

demo: $(PY_OK) ## Run the whole workflow on the local AWS twin and draw what happened.
	$(BIN)/python scripts/demo.py

bench: $(PY_OK) ## Reproduce the figures in the README's benchmark table.
	$(BIN)/python scripts/bench.py $(BENCH_ARGS)

lock: ## Re-resolve requirements.in into exact pins (needs network access to PyPI).
	rm -rf /tmp/backup-events-lock && $(PYTHON) -m venv /tmp/backup-events-lock
	/tmp/backup-events-lock/bin/pip install --quiet -r requirements.in
	{ echo "# Exact pins for every Python package the tests, linters and demo use (transitive included)."; \
	  echo "# Regenerate with 'make lock' after editing requirements.in."; \
	  /tmp/backup-events-lock/bin/pip freeze; } > requirements.lock

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) node_modules build demo-output .pytest_cache .mypy_cache .ruff_cache .hypothesis
