# `make run` and `make test` work on a machine with only Python 3.11+ and make.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run serve cluster cluster-stop test test-reliability lint format migrate bench clean

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
	@echo "  Chat server: open http://$(HOST):$(PORT)/ in your browser (Ctrl-C stops it and its task worker)."
	@echo ""
	$(BIN)/python -m chatproject.devserver $(HOST) $(PORT)

# The production command (uvicorn, several workers): see deploy/serve.sh and docs/deploy.md.
# Migrates first so that it also works on a fresh clone; containers run deploy/serve.sh.
serve: migrate
	deploy/serve.sh

# N production processes behind nginx on this machine (needs DATABASE_URL and REDIS_URL).
cluster: $(VENV)/.runtime
	$(BIN)/python -m deploy.cluster start

cluster-stop: $(VENV)/.runtime
	$(BIN)/python -m deploy.cluster stop

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

# The scaling figure (server CPU per frame at 1-8 processes) beside the design before
# per-room subscriptions (SCALING_BASELINE, a git revision).
SCALING_BASELINE ?= 056abe3
bench: $(VENV)/.dev
	$(BIN)/python -m bench.run $(BENCH_ARGS)
	$(BIN)/python -m bench.proxy $(BENCH_PROXY_ARGS)
	taskset -c 1 $(BIN)/python -m bench.scaling --baseline-rev $(SCALING_BASELINE) --report docs/benchmarks-scaling.md $(SCALING_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache
