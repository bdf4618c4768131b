# valuestream — the README's commands. `make run` and `make test` set everything up themselves.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_SYSTEM ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON_SYSTEM) -m uv")
export UV_PYTHON_DOWNLOADS := never
# Installed packages compiled to bytecode once (as the Dockerfile does): a process that imports the
# models' libraries otherwise compiles them from source at every start where PYTHONDONTWRITEBYTECODE is
# set (a worker's imports: 27 s against 10 s measured), and at its first start everywhere else.
export UV_COMPILE_BYTECODE := 1
WORKERS ?= 1
DATA ?=

.PHONY: help run test lint format train bench docs stop clean system-deps test-deps venv

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

system-deps:  ## Java 17, Maven and redis-server (installed with apt when missing)
	@bash deploy/install-system-deps.sh run

test-deps:  ## system-deps plus promtool and Chromium for the tests
	@bash deploy/install-system-deps.sh test

$(VENV)/.synced: pyproject.toml uv.lock
	@command -v uv >/dev/null 2>&1 || $(PYTHON_SYSTEM) -m uv --version >/dev/null 2>&1 || $(PYTHON_SYSTEM) -m pip install --quiet uv
	$(UV) sync --frozen --python $(PYTHON_SYSTEM)
	@touch $@

venv: $(VENV)/.synced  ## the virtualenv with the locked dependencies

run: system-deps venv  ## the whole stack on local defaults; trains a model if none is registered (KAFKA_BROKERS=3: a cluster)
	VALUESTREAM_WORKERS=$(WORKERS) $(if $(KAFKA_BROKERS),VALUESTREAM_KAFKA_BROKERS=$(KAFKA_BROKERS),) $(PY) -m infra.run up

stop:  ## stop everything `make run` started
	@if [ -x $(PY) ]; then $(PY) -m infra.run down; fi

clean: stop  ## stop, then remove the state folder (.state/) and nothing else
	rm -rf .state

train: venv  ## train the candidates and register the champion (DATA=path for your own sales)
	$(PY) -m training $(if $(DATA),--data $(DATA),)

test: test-deps venv lint  ## lint, then the whole suite against a real Kafka and Redis
	$(PY) -m pytest

lint: venv  ## ruff, mypy and the direction of imports (import-linter)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .
	$(VENV)/bin/lint-imports

format: venv  ## apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: venv  ## benchmarks: prints a table, writes bench/results/
	$(PY) -m bench

docs: venv  ## regenerate the Kafka contract (docs/asyncapi.json and .yaml) from the worker's code
	$(PY) -m consumers.asyncapi
