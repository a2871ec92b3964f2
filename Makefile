# Two commands for a newcomer: `make run` and `make test`. Both install into .venv first, once: the exact pins and
# hashes of the lock files, then this project itself (editable, which installs the `saliency-studio` command).
# pyproject.toml declares what the project needs; `make lock` recompiles the lock files from it.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8501
LOCK_FLAGS ?=
UV_COMPILE = $(BIN)/uv pip compile --generate-hashes --universal --python-version 3.11 --custom-compile-command "make lock"

.PHONY: run test lint typecheck pytest install install-dev lock docs bench readme clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Stamp files: a second `make` does not reinstall unless a lock file or pyproject.toml changed.
# requirements.txt: the engine, the app and PostgreSQL; requirements-dev.txt: every extra (tests, docs, Ray).
# A worktree whose .venv is a link to another checkout's environment does not install itself there (the shared
# `saliency-studio` command would then run this worktree's code); its tests import xai_core from the work tree.
EDITABLE = if [ -L $(VENV) ]; then echo "$(VENV) is a link: not installing this checkout into it"; \
	else $(BIN)/pip install -q --no-deps $(1) -e .; fi

$(VENV)/.installed: requirements.txt pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q --require-hashes -r requirements.txt
	$(call EDITABLE)
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt requirements-dev-nodeps.txt pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q --require-hashes -r requirements-dev.txt
	$(BIN)/pip install -q --require-hashes --no-deps -r requirements-dev-nodeps.txt
	$(call EDITABLE,--no-build-isolation)
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: install
	$(BIN)/python -m xai_core app --host $(HOST) --port $(PORT)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install-dev
	$(BIN)/mypy

pytest: install-dev
	$(BIN)/python -m pytest -n 2 --dist loadfile

test: lint typecheck pytest

# After editing the dependencies in pyproject.toml (or requirements-dev-nodeps.in): keeps every other pin as it
# is; `make lock LOCK_FLAGS=--upgrade` moves every pin to the newest release the ranges allow.
# The dev lock is compiled first, and the app's lock is constrained by it, so the two never disagree.
$(BIN)/uv:
	$(MAKE) install-dev

lock: $(BIN)/uv
	$(UV_COMPILE) $(LOCK_FLAGS) pyproject.toml --extra dev -o requirements-dev.txt
	$(UV_COMPILE) $(LOCK_FLAGS) pyproject.toml --extra app --extra postgres -c requirements-dev.txt -o requirements.txt
	$(UV_COMPILE) $(LOCK_FLAGS) --no-deps requirements-dev-nodeps.in -o requirements-dev-nodeps.txt

docs: install-dev
	$(BIN)/python -m mkdocs build --strict  # -m: the hook imports xai_core from this checkout

readme: install
	$(BIN)/python -m xai_core methods --update-readme README.md

bench: install-dev
	$(BIN)/python -m bench.run_bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache test-artifacts site build dist
