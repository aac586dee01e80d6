# The README's commands: `make run` (main job, locally) and `make test` (tests).
# Both create the virtual environment and install everything they need.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEPS   := pyproject.toml requirements.txt containers/requirements.txt
PYTEST_ARGS ?=

.PHONY: install run test bench synth lint clean

install: $(STAMP)

$(STAMP): $(DEPS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]' -r requirements.txt -r containers/requirements.txt
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/shoppulse replay --kpis-json build/kpis.json sample_files/*.csv

# pytest exits 5 when it collects no test: that is not a failure of the build.
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest: no tests collected"; rc=0; fi; exit $$rc

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) build .pytest_cache .hypothesis
