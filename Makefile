# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# `make run PORT=8001 SIM_PORT=8766` when the defaults are taken.
PORT ?= 8000
SIM_PORT ?= 8765
# The demo's progress and table stay on one screen; LOG_LEVEL=INFO shows every task.
LOG_LEVEL ?= WARNING
export DJANGO_SETTINGS_MODULE := config.settings

.PHONY: install run test test-fast test-long lint demo clean

$(BIN)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(BIN)/.installed

# Web + worker + local Twilio on SQLite, ten demo calls shown live, then the admin until Ctrl-C.
run: install
	DEBUG=true $(BIN)/python manage.py migrate --noinput --verbosity 0
	DEBUG=true LOG_LEVEL=$(LOG_LEVEL) $(BIN)/python scripts/stack.py --port $(PORT) --sim-port $(SIM_PORT) \
		--then "$(BIN)/python manage.py demo --calls 10"

# The suite; DATABASE_URL chooses the database (SQLite when unset). Tests run on one process per
# core (PYTEST_WORKERS=0: in this one); those that start real processes or a browser run one
# after another on one of them (tests/conftest.py).
PYTEST_WORKERS ?= auto
PYTEST := $(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup

test: install
	$(PYTEST) -m "not long" $(PYTEST_ARGS)

# The same without the tests that start real processes or a browser (tests/e2e, tests/browser:
# marked slow).
test-fast: install
	$(PYTEST) -m "not slow and not long" $(PYTEST_ARGS)

# What runs for tens of minutes and only on request: 10,000 histories of the queue's model and
# the race matrix many times over (PostgreSQL: DATABASE_URL must point at it).
test-long: install
	$(PYTEST) -m long --timeout 0 $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) db.sqlite3 db.sqlite3-* staticfiles
