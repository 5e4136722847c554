# dakoku — the two commands a newcomer needs are `make sim` and `make test`.
# Everything else here is what they are built from.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.dakoku-installed
STUBS  := $(VENV)/micropython-stubs
# The MicroPython port whose stubs type-check terminal code (ESP32: the PiT-style board).
STUBS_PORT ?= esp32
# The simulated readers that run in the guest (pty.py and usb.py are CPython only).
READER_SIM := $(addprefix simulator/readers/,__init__.py field.py line.py pn53x_chip.py pn532.py rcs620s.py rcs380.py i2c.py desk.py replay.py)
TERMINAL_CODE := firmware protocol hardware simulator/norflash.py simulator/powercut.py simulator/storefaults.py simulator/protocolload.py simulator/door.py simulator/doorbench.py simulator/display.py $(READER_SIM) simulator/parts simulator/boardday.py simulator/fingers tests/terminal

# The display's Japanese bitmap font, converted from Debian's unifont package (tools/dakoku/fontbuild.py).
FONT        := build/font/unifont_jp16.dkf
FONT_SOURCE := $(wildcard /usr/share/unifont/unifont_jp.hex)

.PHONY: setup sim test test-fast lint typecheck bench clean help

help:
	@echo "make sim    set up, then run the simulator on its embedded defaults"
	@echo "make test   set up, then run every test (CPython, MicroPython, lint, type checks)"
	@echo "make bench  set up, then run every benchmark, each printing its figures"

setup: $(STAMP) $(FONT)

# Re-runs only when pyproject.toml changes (or the venv is missing).
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip install --quiet --upgrade --target $(STUBS) 'micropython-$(STUBS_PORT)-stubs'
	$(BIN)/dakoku micropython -c "pass"   # compiles and caches the MicroPython module once
	@touch $(STAMP)

# The font's source is Debian's unifont package: setup installs it where it can (root with
# apt-get, as on CI and a fresh container); elsewhere it says what to install, and the display
# tests fail (never skip) until the font is there.
UNIFONT_HEX := /usr/share/unifont/unifont_jp.hex
$(FONT): $(STAMP) tools/dakoku/fontbuild.py $(FONT_SOURCE)
	@if ! test -f $(UNIFONT_HEX) && test "$$(id -u)" = 0 && command -v apt-get >/dev/null; then \
	    echo "make setup: installing Debian's unifont (the display font's source)"; \
	    (apt-get install -y -q unifont >/dev/null 2>&1 || \
	     (apt-get update -q >/dev/null && apt-get install -y -q unifont >/dev/null)) || true; fi
	@if test -f $(UNIFONT_HEX); then $(BIN)/dakoku font build --output $@; \
	else echo "make setup: no display font: apt-get install unifont, then make setup again" >&2; fi

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
