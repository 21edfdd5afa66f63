# Short names for the suite. `make verify` does everything from a fresh clone: it bootstraps
# the tools environment (.tools/, from the hash-locked envs/tools.lock: only what verifying needs),
# then runs `invoke setup` and `invoke verify`. `make test` and `make lint` add the developer tools
# (envs/dev.lock). Nothing is installed outside this directory.

PYTHON ?= python3
TOOLS := .tools
TOOLS_PY := $(TOOLS)/bin/python
INVOKE := $(TOOLS_PY) -m invoke
STAMP := $(TOOLS)/.installed
DEV_STAMP := $(TOOLS)/.dev-installed
SETUP_ARGS ?=
VERIFY_ARGS ?=
PYTEST_ARGS ?=
# the shared core and the rules, type-checked with --strict
STRICT := checks/paths.py checks/errors.py checks/envdir.py checks/envlock.py checks/completeness.py checks/fixes.py \
	checks/settings.py checks/matrix.py checks/platforms.py checks/process.py checks/lockfile.py checks/facts.py \
	checks/model.py checks/registry.py checks/evaluate.py checks/rules checks/comparison.py

.PHONY: help tools dev setup verify test lint lint-workflows lock lock-tools matrix clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {name[++n] = $$1; text[n] = $$2; if (length($$1) > w) w = length($$1)} \
		END {for (i = 1; i <= n; i++) printf("  make %-" w "s  %s\n", name[i], text[i])}' $(MAKEFILE_LIST)

tools: $(STAMP) ## Create the tools environment .tools/ (invoke, uv, packaging, psutil)

$(STAMP): envs/tools.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)' 2>/dev/null || \
		{ echo "error: $(PYTHON) is missing or older than 3.9; run with PYTHON=/path/to/python3.9+" >&2; exit 2; }
	@$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || \
		{ echo "error: $(PYTHON) has no venv/ensurepip module (Debian/Ubuntu: apt-get install python3-venv)" >&2; exit 2; }
	@echo "Creating the tools environment $(TOOLS)/ with $$($(PYTHON) -c 'import sys; print(sys.executable)') ..."
	@rm -rf $(TOOLS) && $(PYTHON) scripts/bootstrap.py envs/tools.lock
	@touch $(STAMP)

dev: $(DEV_STAMP) ## Add the developer tools to .tools/ (pytest, ruff, mypy, jsonschema, xmlschema, lief)

$(DEV_STAMP): $(STAMP) envs/dev.lock
	@$(PYTHON) scripts/bootstrap.py envs/dev.lock
	@touch $(DEV_STAMP)

setup: tools ## Create the TensorFlow environment (.venv-tf/) for this machine
	@# the suite's own bytecode, as uv compiles the tools' (cheap when up to date; read even under PYTHONDONTWRITEBYTECODE)
	@$(TOOLS_PY) -m compileall -q tasks.py checks scripts >/dev/null
	$(INVOKE) setup $(SETUP_ARGS)

verify: setup ## Bootstrap, set up, and verify the environment (the main job)
	$(INVOKE) verify $(VERIFY_ARGS)

test: dev ## Run the tests (real installs, real TensorFlow; several minutes)
	$(TOOLS_PY) -m pytest $(PYTEST_ARGS)

lint: dev lint-workflows ## Lint (ruff), type-check (mypy; --strict on the core and rules), check the workflows
	$(TOOLS)/bin/ruff check .
	$(TOOLS)/bin/mypy --python-version 3.10 --ignore-missing-imports checks scripts tasks.py
	$(TOOLS)/bin/mypy --strict --python-version 3.10 --ignore-missing-imports $(STRICT)

lint-workflows: dev ## Schema-check and audit .github/workflows/ (check-jsonschema, zizmor; Python 3.11+ tools)
	@if [ -x $(TOOLS)/bin/zizmor ] && [ -x $(TOOLS)/bin/check-jsonschema ]; then \
		$(TOOLS)/bin/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml && \
		$(TOOLS)/bin/zizmor --offline --no-progress .github/workflows/; \
	else echo "lint-workflows: skipped (check-jsonschema and zizmor need a Python 3.11+ .tools/)"; fi

lock: tools ## Re-resolve the lock files in envs/locks/ from envs/matrix.json
	$(INVOKE) lock

lock-tools: tools ## Re-resolve envs/tools.lock and envs/dev.lock from envs/tools.in and envs/dev.in
	$(TOOLS)/bin/uv pip compile -q envs/tools.in --universal --python-version 3.9 --generate-hashes -o envs/tools.lock
	$(TOOLS)/bin/uv pip compile -q envs/dev.in -c envs/tools.lock --universal --python-version 3.9 \
		--generate-hashes -o envs/dev.lock

matrix: tools ## Print the compatibility matrix
	$(INVOKE) matrix

clean: ## Remove the tools environment .tools/ only; keeps .venv-tf/ (TensorFlow), the locks and reports
	rm -rf $(TOOLS)
