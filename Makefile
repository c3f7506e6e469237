# The README's two commands. Both are idempotent: a second call reinstalls only when pyproject.toml changed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test lint typecheck unit bench sandbox clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@ $(VENV)/.installed-run

.env:
	cp .env.example .env
	@echo "Created .env from .env.example: put your bot token in BOT_TOKEN (see README)."

run: $(VENV)/.installed-run .env
	$(BIN)/riverbot run

test: lint typecheck unit

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

unit: $(VENV)/.installed-dev
	$(BIN)/pytest -q

bench: $(VENV)/.installed-dev
	$(BIN)/python -m benchmarks

sandbox: $(VENV)/.installed-dev
	$(BIN)/python -m sandbox

clean:
	rm -rf $(VENV) build *.egg-info
