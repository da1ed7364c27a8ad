# Everything a fresh clone needs goes through `install`: `make test` works on its own.
VENV := .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install protos run demo test lint

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

test: install
	$(VENV)/bin/pytest tests/

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy services workflows deploy protos/generate.py
