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

# With a BOT_TOKEN (in .env or the environment): the real bot. Without one: `riverbot try`, the bot on the built-in
# Bot API stand-in with a chat page in the browser (its first line says so, and how to switch to a real token).
run: $(VENV)/.installed-run .env
	@if $(BIN)/python -c 'import sys; from bot.config import load_settings; sys.exit(0 if load_settings().bot_token else 1)' 2>/dev/null; then \
		exec $(BIN)/riverbot run; \
	else \
		$(BIN)/python -c 'import aiohttp' 2>/dev/null || $(BIN)/python -m pip install -q -e '.[sandbox]'; \
		exec $(BIN)/riverbot try; \
	fi

test: lint typecheck unit

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

# The suite on SQLite; and, when RIVERBOT_TEST_POSTGRES names a PostgreSQL server (.ci/run starts a throwaway one;
# `scripts/pg-cluster start DIR` does for you), the same suite on PostgreSQL at the same time, on the other core.
unit: $(VENV)/.installed-dev
	@if [ -z "$$RIVERBOT_TEST_POSTGRES" ]; then \
		echo "unit: on SQLite (set RIVERBOT_TEST_POSTGRES to a server URL to run on PostgreSQL as well)"; \
		exec $(BIN)/pytest -q; \
	fi; \
	pglog=$$(mktemp); pgtmp=$$(mktemp -d); \
	echo "unit: on SQLite, and on PostgreSQL beside it (its report follows)"; \
	RIVERBOT_TEST_ENGINE=postgresql $(BIN)/pytest -q -p no:cacheprovider --basetemp=$$pgtmp/tmp >$$pglog 2>&1 & pg=$$!; \
	trap 'kill $$pg 2>/dev/null' INT TERM; \
	$(BIN)/pytest -q; sqlite=$$?; \
	wait $$pg; postgres=$$?; \
	echo "--- the suite on PostgreSQL ---"; cat $$pglog; rm -rf $$pglog $$pgtmp; \
	echo "unit: SQLite exit $$sqlite, PostgreSQL exit $$postgres"; \
	[ $$sqlite -eq 0 ] && [ $$postgres -eq 0 ]

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
