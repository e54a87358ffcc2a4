# `make run` and `make test` do all the set-up on a fresh machine.
VENV   := .venv
PY     := $(VENV)/bin/python
FLASK  := $(VENV)/bin/flask --app wsgi
PYTEST_ARGS ?=

.PHONY: run test install lint format system-deps translations bench

$(VENV)/.installed: requirements.txt requirements-dev.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

run: install
	$(FLASK) db upgrade
	$(FLASK) demo load
	$(FLASK) serve

test: install
	$(VENV)/bin/pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# What the browser, XMLTV and deployment tests and the share cards (DejaVu, with Cyrillic) need from Debian (root); .ci/run calls this.
system-deps:
	apt-get install -y -q chromium xmltv-util wrk libxml2-utils nginx fonts-dejavu-core >/dev/null || \
	  (apt-get update -q >/dev/null && apt-get install -y -q chromium xmltv-util wrk libxml2-utils nginx fonts-dejavu-core >/dev/null)

# Re-extract and compile the message catalogs after changing UI strings.
translations: install
	$(VENV)/bin/pybabel extract -F babel.cfg -k _l -o schedule_service/translations/messages.pot .
	$(VENV)/bin/pybabel update -i schedule_service/translations/messages.pot -d schedule_service/translations
	$(VENV)/bin/pybabel compile -d schedule_service/translations

bench: install
	$(PY) -m bench
