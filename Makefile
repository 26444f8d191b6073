# The two commands: `make run` serves the portal, `make test` runs every check.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
export HOST PORT

.PHONY: run test lint superuser migrate clean messages

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	@touch $@ $(VENV)/.installed

# The translations (locale/*/LC_MESSAGES/django.po) compiled to .mo with Babel, so a
# machine without GNU gettext builds them too. The .mo files are not committed.
messages: $(VENV)/.installed
	$(BIN)/python -m portal.translations

migrate: $(VENV)/.installed
	$(BIN)/python manage.py migrate --noinput

run: messages migrate
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	@echo "Serving the portal on http://$(HOST):$(PORT)/  (Ctrl-C stops it)"
	$(BIN)/gunicorn portal.wsgi:application

superuser: migrate
	$(BIN)/python manage.py createsuperuser

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: messages lint
	$(BIN)/python manage.py check --fail-level WARNING
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) test-artifacts .pytest_cache

# Key-check, API Keys page and push timings, SQLite and PostgreSQL side by side, written to
# benchmarks/RESULTS.md. Each run migrates a throwaway database (PostgreSQL: portal_bench, or
# portal_bench_push for the push benchmark, on the server BENCH_POSTGRES_URL names, dropped
# afterwards) and leaves its figures in var/bench/. The push benchmark starts gunicorn itself.
.PHONY: bench
bench: $(VENV)/.installed-test
	rm -rf var/bench && mkdir -p var/bench
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	VAR_DIR=var/bench DATABASE_URL= \
		$(BIN)/python -m benchmarks.bench_keycheck --json var/bench/keycheck-sqlite.json
	VAR_DIR=var/bench DATABASE_URL=$${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/portal} \
		$(BIN)/python -m benchmarks.bench_keycheck --json var/bench/keycheck-postgresql.json
	VAR_DIR=var/bench DATABASE_URL= \
		$(BIN)/python -m benchmarks.bench_apikeys_page --json var/bench/page-sqlite.json
	VAR_DIR=var/bench DATABASE_URL=$${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/portal} \
		$(BIN)/python -m benchmarks.bench_apikeys_page --json var/bench/page-postgresql.json
	VAR_DIR=var/bench DATABASE_URL= \
		$(BIN)/python -m benchmarks.bench_push --json var/bench/push-sqlite.json
	VAR_DIR=var/bench DATABASE_URL=$${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/portal} \
		$(BIN)/python -m benchmarks.bench_push --json var/bench/push-postgresql.json
	VAR_DIR=var/bench DATABASE_URL= \
		$(BIN)/python -m benchmarks.bench_peers --json var/bench/peers-sqlite.json
	VAR_DIR=var/bench DATABASE_URL=$${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/portal} \
		$(BIN)/python -m benchmarks.bench_peers --json var/bench/peers-postgresql.json
	VAR_DIR=var/bench DATABASE_URL= \
		$(BIN)/python -m benchmarks.bench_http --json var/bench/http-sqlite.json
	VAR_DIR=var/bench DATABASE_URL=$${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/portal} \
		$(BIN)/python -m benchmarks.bench_http --json var/bench/http-postgresql.json
	VAR_DIR=var/bench DATABASE_URL= \
		$(BIN)/python -m benchmarks.bench_read --json var/bench/read-sqlite.json
	VAR_DIR=var/bench DATABASE_URL=$${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/portal} \
		$(BIN)/python -m benchmarks.bench_read --json var/bench/read-postgresql.json
	VAR_DIR=var/bench DATABASE_URL= \
		$(BIN)/python -m benchmarks.bench_search --json var/bench/search-sqlite.json
	VAR_DIR=var/bench DATABASE_URL=$${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/portal} \
		$(BIN)/python -m benchmarks.bench_search --json var/bench/search-postgresql.json
	VAR_DIR=var/bench DATABASE_URL= \
		$(BIN)/python -m benchmarks.bench_gallery --json var/bench/gallery-sqlite.json
	VAR_DIR=var/bench DATABASE_URL=$${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/portal} \
		$(BIN)/python -m benchmarks.bench_gallery --json var/bench/gallery-postgresql.json
	VAR_DIR=var/bench DATABASE_URL=$${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/portal} \
		$(BIN)/python -m benchmarks.bench_s3 --json var/bench/s3-postgresql.json
	$(BIN)/python -m benchmarks.common --command "make bench" var/bench benchmarks/RESULTS.md

# The audit admin at a million events (list pages, searches, CSV export throughput and
# memory), in its own throwaway database; separate from `bench` because loading takes
# a minute or two.
.PHONY: bench-events
bench-events: $(VENV)/.installed-test
	$(BIN)/python -m benchmarks.bench_events_admin --events $${EVENTS:-1000000}

# Fuzz the .nupkg reader and the key parser for FUZZ_SECONDS in all (split 2:1),
# with atheris (the fuzz extra). Failing inputs are saved under var/fuzz/.
FUZZ_SECONDS ?= 60
.PHONY: fuzz
$(VENV)/.installed-fuzz: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test,fuzz]"
	@touch $@ $(VENV)/.installed-test $(VENV)/.installed

fuzz: $(VENV)/.installed-fuzz
	$(BIN)/python -m fuzz.run --seconds $(FUZZ_SECONDS)
