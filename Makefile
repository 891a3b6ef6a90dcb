# The two commands of the README. Both need only Python 3.11 and make.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NATIVE_STAMP := $(VENV)/.native

.PHONY: run test install lint bench clean

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Python 3.11 is required (found %s); set PYTHON=/path/to/python3.11" % sys.version.split()[0])'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

# The optional C module of match-key hashing: built when a C compiler and OpenSSL's headers are
# here, otherwise skipped with a message (the same code runs in Python, more slowly).
$(NATIVE_STAMP): $(STAMP) integrations/facebook/_sha256_hex.c scripts/build_native.py
	$(PY) scripts/build_native.py
	touch $(NATIVE_STAMP)

install: $(STAMP) $(NATIVE_STAMP)

# Set-up plus the main job on the embedded defaults (SQLite, ORM broker, sandbox):
# the admin and one django-q2 worker on http://127.0.0.1:8000; Ctrl-C stops both.
run: install
	$(PY) scripts/write_dev_env.py
	$(PY) manage.py migrate --noinput
	$(PY) manage.py setup_schedules
	$(PY) manage.py serve --seed-demo

# Set-up plus every test, on the embedded defaults.
test: install
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .

bench: install
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) staticfiles test-artifacts integrations/facebook/_sha256_hex.*.so
