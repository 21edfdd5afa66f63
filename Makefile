# Short names for the suite. `make verify` does everything from a fresh clone: it bootstraps
# the tools environment (.tools/, from the hash-locked envs/tools.lock), then runs
# `invoke setup` and `invoke verify`. Nothing is installed outside this directory.

PYTHON ?= python3
TOOLS := .tools
TOOLS_PY := $(TOOLS)/bin/python
INVOKE := $(TOOLS_PY) -m invoke
STAMP := $(TOOLS)/.installed
SETUP_ARGS ?=
VERIFY_ARGS ?=
PYTEST_ARGS ?=

.PHONY: help tools setup verify test lint lock matrix clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-8s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

tools: $(STAMP) ## Create the tools environment .tools/ (invoke, uv, packaging, psutil, ruff, mypy, pytest)

$(STAMP): envs/tools.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)' 2>/dev/null || \
		{ echo "error: $(PYTHON) is missing or older than 3.9; run with PYTHON=/path/to/python3.9+" >&2; exit 2; }
	@$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || \
		{ echo "error: $(PYTHON) has no venv/ensurepip module (Debian/Ubuntu: apt-get install python3-venv)" >&2; exit 2; }
	@echo "Creating the tools environment $(TOOLS)/ with $$($(PYTHON) -c 'import sys; print(sys.executable)') ..."
	@rm -rf $(TOOLS) && $(PYTHON) -m venv $(TOOLS)
	@$(TOOLS_PY) -m pip install --quiet --disable-pip-version-check --require-hashes --only-binary :all: \
		-r envs/tools.lock
	@touch $(STAMP)

setup: tools ## Create the TensorFlow environment (.venv-tf/) for this machine
	$(INVOKE) setup $(SETUP_ARGS)

verify: setup ## Bootstrap, set up, and verify the environment (the main job)
	$(INVOKE) verify $(VERIFY_ARGS)

test: tools ## Run the tests (real installs, real TensorFlow; several minutes)
	$(TOOLS_PY) -m pytest $(PYTEST_ARGS)

lint: tools ## Lint with ruff, type-check with mypy (checks/, scripts/, tasks.py)
	$(TOOLS)/bin/ruff check .
	$(TOOLS)/bin/mypy --python-version 3.10 --ignore-missing-imports checks scripts tasks.py

lock: tools ## Re-resolve the lock files in envs/locks/ from envs/matrix.json
	$(INVOKE) lock

matrix: tools ## Print the compatibility matrix
	$(INVOKE) matrix

clean: ## Remove the tools environment (the TensorFlow environment is removed by `invoke setup --force`)
	rm -rf $(TOOLS)
