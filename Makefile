# sqlsync — every target installs what it needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SAM_VENV := .venv-sam
SAM := $(SAM_VENV)/bin/sam
DLT_VENV := .venv-bench-dlt
ARGS ?=

.PHONY: run test lint check bench preview sam-validate sam-build openapi clean

$(VENV)/.installed: requirements-dev.txt layers/core/requirements.txt layers/drivers/requirements.txt layers/core/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e layers/core
	touch $@

# The local stack: moto in-process, an HTTP endpoint shaped like API Gateway, a poller shaped like
# the SQS event-source mapping, SQLite as the target. `make run ARGS=--demo` runs the demo and exits.
run: $(VENV)/.installed
	$(PY) -m sqlsync.local $(ARGS)

test: $(VENV)/.installed
	$(PY) -m pytest $(ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check layers/core functions tests bench scripts
	$(VENV)/bin/ruff format --check layers/core functions tests bench scripts
	$(VENV)/bin/mypy layers/core/sqlsync functions

# The API's OpenAPI document, generated from the api function's routes and models (tests check it is current).
openapi: $(VENV)/.installed
	$(PY) scripts/openapi.py

# Render an integration's template for an event file, print the SQL: make preview ARGS="events/platform/profiles_added.json"
preview: $(VENV)/.installed
	$(PY) -m sqlsync.local.preview $(ARGS)

bench: $(VENV)/.installed $(DLT_VENV)/.installed
	$(PY) -m bench $(ARGS)

# The exports benchmark's baselines (dlt, psycopg COPY) run in a virtualenv of their own: dlt pins many packages.
$(DLT_VENV)/.installed: requirements-bench.txt
	$(PYTHON) -m venv $(DLT_VENV)
	$(DLT_VENV)/bin/pip install --quiet --upgrade pip
	$(DLT_VENV)/bin/pip install --quiet -r requirements-bench.txt
	touch $@

# aws-sam-cli pins boto3 and click exactly, so it lives in a virtualenv of its own.
$(SAM_VENV)/.installed:
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/pip install --quiet aws-sam-cli==1.170.0
	touch $@

sam-validate: $(SAM_VENV)/.installed
	$(SAM) validate --region us-east-1
	$(SAM) validate --lint --region us-east-1

sam-build: $(SAM_VENV)/.installed
	$(SAM) build

check: lint test sam-validate

clean:
	rm -rf $(VENV) $(SAM_VENV) $(DLT_VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache
