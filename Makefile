# The two contract commands: `make run` and `make test`. Everything they need is installed here.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
STATE := state
GROUPS := --group model --group gateway --group ui --group train --group dev

export MODEL_SERVICE_PORT ?= 3000
export GATEWAY_PORT ?= 8000
export UI_PORT ?= 7860
export BENTOML_HOME ?= $(CURDIR)/$(STATE)/bentoml

.PHONY: setup system-deps test lint format run serve-model serve-gateway serve-ui \
	register-default bench bench-peers soak clean

setup: $(STAMP) system-deps

# The venv is rebuilt whenever the pins change.
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check "pip==26.3"
	$(PY) -m pip install -q -c constraints.txt -e . $(GROUPS)
	touch $@

# Debian packages: PostgreSQL for the tests, Chromium + CJK fonts for the UI tests, wrk for benchmarks.
system-deps:
	@scripts/install_system_deps.sh

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Unit and integration tests; the PostgreSQL cluster is started and stopped by the test fixtures.
test: setup lint
	$(PY) -m pytest

# Register the committed default bundle into the local model store when the store lacks it.
register-default: $(STAMP)
	$(PY) -m training register models/korean-sentiment --if-missing

# Each part alone in the foreground, started as `make run` starts it (stack/parts.py).
serve-model: setup register-default
	$(PY) -m stack serve model

serve-gateway: setup
	$(PY) -m stack serve gateway

serve-ui: setup
	$(PY) -m stack serve ui

# The three parts on MODEL_SERVICE_PORT, GATEWAY_PORT, UI_PORT; logs in state/logs/; Ctrl-C stops all.
run: setup register-default
	@$(PY) -m stack run

bench: setup register-default
	$(PY) -m scripts.bench

# Ours against Ray Serve, Mosec, LitServe, PyTriton; each peer in its own venv under state/peers/.
bench-peers: setup
	$(PY) -m scripts.bench.peers

# 30 minutes of mixed traffic with a fault every 4 minutes; results in docs/reliability.md.
soak: setup
	$(PY) -m scripts.soak

clean:
	rm -rf $(VENV) $(STATE) .pytest_cache .ruff_cache
