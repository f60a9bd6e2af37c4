# JEZGRO-GW — every target sets up the pinned toolchain in .venv on first use.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: sim test check build bench clean

$(STAMP): requirements.txt host_tools/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e host_tools
	touch $(STAMP)

sim: $(STAMP)
	$(BIN)/jezgro sim

# Target gate (mpy-cross for armv7emdp + mypy against the stm32 stubs), then the host tests.
test: $(STAMP)
	$(BIN)/jezgro check
	$(BIN)/pytest -q tests_host tests_target

check: $(STAMP)
	$(BIN)/jezgro check

build: $(STAMP)
	$(BIN)/jezgro build

bench: $(STAMP)
	$(BIN)/jezgro bench

clean:
	rm -rf build sim_out
