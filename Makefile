# Model-governance control plane. `make test` installs into .venv on first use.
# GNU make; recipes are indented with tabs.

SHELL  := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# Interpreter used to create the venv (override: make PYTHON=python3.11 ...).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
RUFF   := $(VENV)/bin/ruff
STAMP  := $(VENV)/.installed
# Where `make up TEAM=1` keeps the team stack (state file, logs, keys, PostgreSQL).
TEAM_DIR ?= .governance/team

.PHONY: help install lint format test test-future demo up down bench clean distclean

# List the targets with the comment above each.
help:
	@awk '/^# /{c=substr($$0,3);next} /^[a-z][a-z-]*:/{sub(/:.*/,"",$$1); if(c!="")printf "  %-10s %s\n",$$1,c} {c=""}' $(MAKEFILE_LIST)

# Create the venv and install the package with dev extras (re-runs when pyproject.toml changes).
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

# Install (or refresh) the development environment in .venv.
install: $(STAMP)

# Check lint rules and formatting with ruff.
lint: $(STAMP)
	$(RUFF) check .
	$(RUFF) format --check .

# Apply ruff's fixes and formatting.
format: $(STAMP)
	$(RUFF) check --fix .
	$(RUFF) format .

# Lint, then run the whole test suite.
test: $(STAMP) lint
	@# The flow tests mostly wait on Prefect (suspends, resumes, bakes), so they run beside
	@# the integration and unit tests: two pytest sessions, each with its own servers.
	@log=$$(mktemp); \
	$(PY) -m pytest -q -p no:cacheprovider tests/flows >"$$log" 2>&1 & flows=$$!; \
	rest=0; $(PY) -m pytest -q tests/integration tests/unit || rest=$$?; \
	flowed=0; wait $$flows || flowed=$$?; \
	echo "--- tests/flows"; cat "$$log"; rm -f "$$log"; \
	test $$rest -eq 0 -a $$flowed -eq 0

# The unit and integration tests on SQLite, with the wall clock a year ahead.
test-future: $(STAMP)
	@# A test that reads today's date against a fixed one fails here now, not next year.
	$(PY) -m pytest -q -p no:cacheprovider tests/unit tests/integration -k "not postgres" \
	  --clock-shift-days 365

# Run the end-to-end demo (KEEP=1: leave the console and the stack running on its state).
demo: $(STAMP)
	$(PY) -m deployments.demo $(if $(filter 1,$(KEEP)),--keep)

# Start the local stack (Prefect server, deployments, gateway); TEAM=1: the team stack in TEAM_DIR.
up: $(STAMP)
	@# TEAM=1: PostgreSQL, Prefect on it, a work pool's worker, the gateway and the governance
	@# server, each with its own credentials, started in the background (deployments/team.py);
	@# ADMIN=NAME enrols the first admin at the first start.
	@if [ "$(TEAM)" = 1 ]; then \
	  $(PY) -m deployments.team start $(TEAM_DIR) $(if $(ADMIN),--admin $(ADMIN)); \
	else \
	  $(PY) -m deployments.up; \
	fi

# Stop the team stack that `make up TEAM=1` started in TEAM_DIR (only its own processes).
down: $(STAMP)
	$(PY) -m deployments.team stop $(TEAM_DIR)

# Run every benchmark in bench/.
bench: $(STAMP)
	@for f in bench/*.py; do \
	  case "$$(basename "$$f")" in _*) continue;; esac; \
	  [ -e "$$f" ] || continue; \
	  echo "== $$f"; \
	  $(PY) "$$f"; \
	done

# Remove runtime state and caches (keeps the venv).
clean:
	rm -rf .governance .prefect .pytest_cache .ruff_cache build dist tests/output test-results bench/results
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +

# Also remove the venv and egg-info.
distclean: clean
	rm -rf $(VENV) *.egg-info
