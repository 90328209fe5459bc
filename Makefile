# `make run` and `make test` work on a machine with only Python 3.11+ and make.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test test-reliability lint format migrate bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

migrate: $(VENV)/.runtime
	$(BIN)/python manage.py migrate --noinput

run: migrate
	@echo ""
	@echo "  Chat server: open http://$(HOST):$(PORT)/ in your browser (Ctrl-C stops it)."
	@echo ""
	$(BIN)/daphne -b $(HOST) -p $(PORT) chatproject.asgi:application

test: $(VENV)/.dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Faults under load (own redis-server, a proxy before PostgreSQL, real servers); writes docs/reliability.md.
# Needs DATABASE_URL (PostgreSQL) and redis-server on PATH. See docs/reliability.md.
test-reliability: $(VENV)/.dev
	RELIABILITY_REPORT=$${RELIABILITY_REPORT-docs/reliability.md} $(BIN)/python -m pytest reliability -p no:cacheprovider $(PYTEST_ARGS)

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(VENV)/.dev
	$(BIN)/python -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache
