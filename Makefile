# SALVE developer commands. Only python3 (3.11+) needs to be on the machine; everything else
# is installed into .venv by the targets that need it.
#
#   make run           set up, migrate, load demo data once, serve http://127.0.0.1:5000
#   make test          ruff check, then the whole pytest suite (SQLite, PostgreSQL, Chromium)
#   make lint          ruff check and ruff format --check
#   make format        ruff format and the safe ruff fixes
#   make bench         run every bench/*.py script
#   make translations  extract, update and compile the message catalogs
#   make clean         delete the virtualenv, caches and build leftovers (keeps instance/)

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app app
PIP := $(BIN)/python -m pip --disable-pip-version-check --quiet
HOST ?= 127.0.0.1
PORT ?= 5000
# Extra pytest arguments, e.g. `make test PYTEST_ARGS="-x tests/browser"`.
PYTEST_ARGS ?=
# pytest-xdist workers: the suite takes ~23 min on one core of the 2-core machine, ~15 on two.
# Each worker starts its own PostgreSQL; `make test PYTEST_WORKERS=0` runs in one process.
PYTEST_WORKERS ?= 2

# The stamps make a re-install happen only when pyproject.toml changes.
INSTALLED := $(VENV)/.installed-stamp
TEST_INSTALLED := $(VENV)/.test-installed-stamp

.PHONY: help run test lint format bench translations clean

help:
	@sed -n 's/^#   make /  make /p' $(MAKEFILE_LIST)

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "SALVE needs Python 3.11 or newer; $(PYTHON) is older." >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(INSTALLED): pyproject.toml | $(BIN)/python
	$(PIP) install -e .
	@touch $@

$(TEST_INSTALLED): pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[test]'
	@touch $@ $(INSTALLED)

# --- run ---------------------------------------------------------------------------------------

# When the database holds demo accounts, print one per role (the one named after it) and the
# shared password, and exit 0; exit 1 when there are none yet.
define DEMO_ACCOUNTS_PY
import sys
import sqlalchemy as sa
from app import app
from salve.auth.models import User
from salve.auth.roles import ROLE_LABELS, ROLES
from salve.extensions import db
try:
    from salve.demo import DEMO_PASSWORD
except ImportError:
    DEMO_PASSWORD = "salve-demo-2026"
with app.app_context(), app.test_request_context():
    first = {}
    for user in db.session.scalars(sa.select(User).where(User.is_demo).order_by(User.id)):
        if user.username == user.primary_role or user.primary_role not in first:
            first[user.primary_role] = user.username
    if not first:
        sys.exit(1)
    print()
    print("Cuentas de demostración ya cargadas (rol, usuario):")
    for role in ROLES:
        if role in first:
            print(f"  {role:<14} {first[role]:<28} {ROLE_LABELS[role]}")
    print(f"Contraseña de todas: {DEMO_PASSWORD}")
    print("gestor, supervisor, nacional y admin piden además un código de 6 dígitos: al primer")
    print("ingreso se escanea un código QR con una aplicación de autenticación (FreeOTP, Aegis,")
    print("Google o Microsoft Authenticator).")
    print()
endef
export DEMO_ACCOUNTS_PY

run: $(INSTALLED)
	@mkdir -p instance
	$(FLASK) salve init
	@# salve demo prints the accounts it creates; on later runs they are read back from the database.
	@if ! $(BIN)/python -c "$$DEMO_ACCOUNTS_PY"; then \
		echo "$(FLASK) salve demo"; \
		$(FLASK) salve demo; \
	fi
	@echo "SALVE: http://$(HOST):$(PORT)  (Ctrl+C para detener)"
	@# The server also runs the scheduled jobs (under the leader lease, like `salve scheduler`).
	SALVE_SCHEDULER_IN_PROCESS=1 $(FLASK) run --host $(HOST) --port $(PORT)

# --- quality -----------------------------------------------------------------------------------

# pytest exits 5 when it collected no test; like any non-zero status, make reports a failure.
test: $(TEST_INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

lint: $(TEST_INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(TEST_INSTALLED)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# --- benchmarks and translations ---------------------------------------------------------------

# Every script runs even when an earlier one fails; the target fails if any did.
bench: $(INSTALLED)
	@shopt -s nullglob; scripts=(bench/[!_]*.py); failed=(); \
	if [ $${#scripts[@]} -eq 0 ]; then echo "No benchmarks in bench/."; exit 0; fi; \
	for script in "$${scripts[@]}"; do \
		echo "== $$script"; \
		$(BIN)/python "$$script" 2>&1 || failed+=("$$script"); \
	done; \
	if [ $${#failed[@]} -gt 0 ]; then echo "Failed: $${failed[*]}" >&2; exit 1; fi

# New messages need their English written into the .po between `update` and `compile`.
# --ignore-dirs: by default pybabel skips folders starting with "_" (templates/_macros, _partials).
translations: $(INSTALLED)
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext --ignore-dirs='.* __pycache__' \
		--no-location --sort-output --project=SALVE --copyright-holder=MINEDUCYT \
		-o salve/translations/messages.pot .
	$(BIN)/pybabel update -i salve/translations/messages.pot -d salve/translations \
		--no-fuzzy-matching --ignore-obsolete
	$(BIN)/pybabel compile -d salve/translations --statistics

# --- housekeeping ------------------------------------------------------------------------------

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
