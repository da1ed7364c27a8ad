# Everything a fresh clone needs goes through `install`: `make test` works on its own.
VENV := .venv
PYTHON := $(VENV)/bin/python
# Test processes (pytest-xdist), one per core here; each file's tests stay in one of them
# (--dist loadfile) so module-scoped stacks start once. TEST_WORKERS=0 runs serially.
TEST_WORKERS ?= 2
STAMP := $(VENV)/.installed

.PHONY: install protos run demo test lint migrate bench

install: $(STAMP)

# Re-run when the dependencies change; the stamp marks a completed install.
$(STAMP): pyproject.toml
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet -e '.[dev]'
	touch $@

protos: install
	$(PYTHON) protos/generate.py

run: install
	$(PYTHON) -m deploy.local.stack run

demo: install
	$(PYTHON) -m deploy.local.stack demo

# Whole-stack benchmark (docs/PERFORMANCE.md): N=10 journeys, 5 at a time, by default.
bench: install
	$(PYTHON) -m bench.journeys

test: install
	$(PYTHON) -m deploy.local.check_postgres
	$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadfile tests/

# Every service's database to its latest migration (services also do it at start-up):
# PERMIS_DATABASE_URL, or the SQLite files in data/. One service: see docs/OPERATIONS.md.
migrate: install
	@for service in $$($(PYTHON) -c 'from services.common.migrations import migrated_services as m; print(*m())'); do \
		$(PYTHON) -m services.common.migrations $$service upgrade || exit 1; \
	done

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy services workflows deploy console bench protos/generate.py
