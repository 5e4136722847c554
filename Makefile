# dakoku — the two commands a newcomer needs are `make sim` and `make test`.
# Everything else here is what they are built from.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.dakoku-installed
STUBS  := $(VENV)/micropython-stubs
# The MicroPython port whose stubs type-check terminal code (ESP32: the PiT-style board).
STUBS_PORT ?= esp32
TERMINAL_CODE := firmware protocol hardware simulator/norflash.py simulator/powercut.py simulator/storefaults.py simulator/protocolload.py simulator/door.py simulator/doorbench.py tests/terminal

.PHONY: setup sim test test-fast lint typecheck bench clean help

help:
	@echo "make sim    set up, then run the simulator on its embedded defaults"
	@echo "make test   set up, then run every test (CPython, MicroPython, lint, type checks)"
	@echo "make bench  set up, then run every benchmark, each printing its figures"

setup: $(STAMP)

# Re-runs only when pyproject.toml changes (or the venv is missing).
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip install --quiet --upgrade --target $(STUBS) 'micropython-$(STUBS_PORT)-stubs'
	$(BIN)/dakoku micropython -c "pass"   # compiles and caches the MicroPython module once
	@touch $(STAMP)

sim: setup
	$(BIN)/dakoku sim

test: setup lint typecheck
	$(BIN)/python -m pytest
	@echo "make test: all green"

# CPython-only quick loop for development (not what CI runs).
test-fast: setup
	$(BIN)/python -m pytest -k "not micropython"

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Terminal code is checked against MicroPython's own stubs (machine, micropython.const, a
# stdlib without dataclasses, typing at run time, …), not against CPython's typeshed.
typecheck: setup
	MYPYPATH=$(STUBS):tests/terminal $(BIN)/mypy --config-file tools/mypy-terminal.ini \
	    --custom-typeshed-dir $(STUBS) --cache-dir $(VENV)/mypy-cache-terminal $(TERMINAL_CODE)

bench: setup
	$(BIN)/dakoku bench all

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
