# The README's commands: `make run` (main job, locally) and `make test` (tests).
# Both create the virtual environment and install everything they need.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEPS   := pyproject.toml requirements.lock
PYTEST_ARGS ?=
# `make test` spreads the test files over one pytest-xdist worker a core (`auto`: one on a 1-core
# machine); `--dist loadfile` keeps a file on one worker, so its module-scoped fixtures (local
# stacks, synthesized templates) are built once. Files go out in collection order: xdist's default
# (most tests first) would leave the slowest files, which hold one or a few tests, for the end.
# PYTEST_WORKERS=0 runs the tests in one process.
PYTEST_WORKERS ?= auto
PYTEST_XDIST   := -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder
# Infra checkers outside the project's pins (infra/checkov-requirements.txt, infra/asl_validator/).
TOOLS         := $(VENV)/tools
CHECKOV       := $(TOOLS)/checkov/bin/checkov
ASL_VALIDATOR := $(TOOLS)/asl-validator/node_modules/.bin/asl-validator

.PHONY: install lock run test check bench synth lint clean browser infra-tools

install: $(STAMP)

$(STAMP): $(DEPS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m pip check
	touch $(STAMP)

# requirements.lock: every package of the development environment (pyproject.toml's dependencies
# and dev extras), pinned with hashes, for Linux and Python 3.11 (Lambda's and the image's). After
# changing a dependency in pyproject.toml: `make lock && make install`; pins already in the lock are
# kept unless the change needs others (`make lock LOCK_ARGS=--upgrade` takes the newest of all).
# requirements.txt (Lambda) and containers/requirements.txt must name the lock's versions
# (tests/project/test_dependency_pins.py).
LOCK_ARGS ?=
lock:
	test -x $(BIN)/uv || { test -x $(BIN)/python || $(PYTHON) -m venv $(VENV); $(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock; }
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --python-platform linux \
		--generate-hashes --quiet $(LOCK_ARGS) -o requirements.lock

# The whole pipeline locally (embedded AWS, workflow, pipes, API on :8000) with the sample
# data; serves until Ctrl-C. `shoppulse replay` remains the in-process batch-only replay.
run: $(STAMP)
	$(BIN)/shoppulse up --demo

# pytest exits 5 when it collects no test: that is not a failure of the build.
test: $(STAMP) browser infra-tools
	$(BIN)/python -m pytest $(PYTEST_XDIST) $(PYTEST_ARGS); rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest: no tests collected"; rc=0; fi; exit $$rc

# Lint, format and types (ruff and mypy, configured in pyproject.toml). tests/project/test_code_health.py
# runs it, so `make test` fails on a finding; `ruff check --fix . && ruff format .` fixes most.
check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The dashboard tests drive Debian's Chromium: install it when missing (as root, with apt).
# If that is impossible the dashboard tests skip, saying so.
browser:
	@test -x /usr/bin/chromium || { command -v apt-get >/dev/null && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || echo "make browser: chromium could not be installed; the dashboard tests will be skipped"

# checkov (own virtualenv) and the npm asl-validator; if one cannot be installed, its test skips, saying so.
infra-tools:
	@test -x $(CHECKOV) || { $(PYTHON) -m venv $(TOOLS)/checkov && $(TOOLS)/checkov/bin/python -m pip install --quiet -r infra/checkov-requirements.txt; } || echo "make infra-tools: checkov could not be installed; its test will be skipped"
	@test -x $(ASL_VALIDATOR) || { mkdir -p $(TOOLS)/asl-validator && cp infra/asl_validator/package.json infra/asl_validator/package-lock.json $(TOOLS)/asl-validator/ && npm ci --silent --no-audit --no-fund --prefix $(TOOLS)/asl-validator; } || echo "make infra-tools: asl-validator could not be installed (needs npm); its test will be skipped"

# The stack's templates: build/<stage>/infra.json, merge.json, package/sam.json (merged with Chalice).
synth: $(STAMP)
	$(BIN)/shoppulse synth

# cfn-lint, checkov and the ASL validator on the synthesized templates.
lint: $(STAMP) infra-tools
	$(BIN)/python -m infra.checks

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) build .pytest_cache .hypothesis .mypy_cache .ruff_cache
