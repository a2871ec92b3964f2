# Two commands for a newcomer: `make run` and `make test`. Both install into .venv first, once.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8501

.PHONY: run test lint typecheck pytest install install-dev bench readme clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Stamp files: a second `make` does not reinstall unless a requirements file changed.
$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt requirements-dev-nodeps.txt $(VENV)/.installed
	$(BIN)/pip install -q -r requirements-dev.txt
	$(BIN)/pip install -q --no-deps -r requirements-dev-nodeps.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: install
	$(BIN)/streamlit run serve.py --server.address $(HOST) --server.port $(PORT)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install-dev
	$(BIN)/mypy

pytest: install-dev
	$(BIN)/python -m pytest -n 2 --dist loadfile

test: lint typecheck pytest

readme: install
	$(BIN)/python -m xai_core methods --update-readme README.md

bench: install-dev
	$(BIN)/python -m bench.run_bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache test-artifacts
