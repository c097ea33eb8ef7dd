# hm-recsys: `make run` and `make test` work from a fresh clone; each installs what it needs into .venv.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export GX_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1

.PHONY: help install run test lint format bench ui clean

help:  ## list the targets
	@grep -E '^[a-z]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

install: $(STAMP)  ## create .venv with the pinned stack (CPU torch) and the `hm` CLI

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -c requirements.lock -e '.[dev]'
	touch $(STAMP)

run: install  ## the main job on embedded defaults (synthetic small world unless HM_RAW is set)
	$(BIN)/hm run

test: install  ## lint, format check and the test suite
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -q

format: install  ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install  ## benchmarks at tiny, small, medium and full scale (cost curve); figures go into README.md
	$(BIN)/python -m benchmarks.run --scales tiny small medium full --readme README.md
	$(BIN)/python -m benchmarks.dask_scale --workdir .hm/bench/medium --scale medium --readme README.md
	$(BIN)/python -m benchmarks.capacity --readme README.md

ui: install  ## open the MLflow UI on the project's tracking store (http://127.0.0.1:5000)
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(abspath $(or $(HM_HOME),.hm))/mlflow/mlflow.db \
		--default-artifact-root $(abspath $(or $(HM_HOME),.hm))/mlflow/artifacts --port 5000

clean:  ## remove the project home (.hm) and caches, keep .venv
	rm -rf .hm .pytest_cache .ruff_cache
