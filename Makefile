# The README's two commands. Both are idempotent: a second call reinstalls only when pyproject.toml changed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test lint typecheck unit stress bench sandbox clean

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

# The whole suite RUNS times in a row (default 5) while two busy loops keep both cores busy, as on a loaded CI
# machine; stops at the first failing run. The busy loops end with it, however it ends.
RUNS ?= 5
stress: $(VENV)/.installed-dev
	@$(BIN)/python -c 'while True: pass' & one=$$!; \
	$(BIN)/python -c 'while True: pass' & two=$$!; \
	trap 'kill $$one $$two 2>/dev/null' EXIT INT TERM; \
	for run in $$(seq 1 $(RUNS)); do \
		echo "stress: run $$run of $(RUNS), both cores kept busy"; \
		$(BIN)/pytest -q -x || { echo "stress: run $$run of $(RUNS) failed"; exit 1; }; \
	done; \
	echo "stress: $(RUNS) runs in a row passed"

bench: $(VENV)/.installed-dev
	$(BIN)/python -m benchmarks

sandbox: $(VENV)/.installed-dev
	$(BIN)/python -m sandbox

clean:
	rm -rf $(VENV) build *.egg-info
