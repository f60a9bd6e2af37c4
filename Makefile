# JEZGRO-GW — every target sets up the pinned toolchain in .venv on first use.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: sim test check build bench clean firmware firmware-all

# --- MicroPython from the pinned source (boards/micropython/pins.json, docs/platform.md) ----------
# MICROPY_SRC: the pinned archives + SHA256SUMS (or an unpacked tree); defaults to the vendor folder
# next to the clone when it is there. Without it the pinned commits are fetched from upstream (internet).
MICROPY_SRC ?= $(if $(wildcard ../shared/vendor/micropython/SHA256SUMS),../shared/vendor/micropython,)
FIRMWARE_BUILD = $(BIN)/jezgro firmware build $(if $(MICROPY_SRC),--src $(MICROPY_SRC),--fetch)
# The unix port (simulation, host tests) and the emulated M7 (tests_target, bench): what tests need.
firmware: $(STAMP)
	$(FIRMWARE_BUILD) --target unix --target qemu

# pyOCD for `jezgro flash` (only where a board is attached; requirements-board.txt).
.PHONY: board-tools
board-tools: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-board.txt

# ... and the JEZGRO_H743 board image (~5 min more), with its size table.
firmware-all: $(STAMP)
	$(FIRMWARE_BUILD)

$(STAMP): requirements.txt host_tools/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e host_tools
	touch $(STAMP)

# The simulation needs only the unix port. Where it cannot be built (no toolchain, no source, no internet)
# `make sim` still runs, on the PyPI unix port (no TLS 1.3: docs/platform.md), and says so; `make test` insists.
sim: $(STAMP)
	@$(FIRMWARE_BUILD) --target unix || echo "make sim: the pinned unix port was not built (above); running on the PyPI unix port (no TLS 1.3, docs/platform.md)"
	$(BIN)/jezgro sim

# Target gate (mpy-cross for armv7emdp + mypy against the stm32 stubs + ruff), then the host tests.
test: $(STAMP) .venv-iso15118/.installed firmware-all
	$(BIN)/jezgro check
	JEZGRO_REQUIRE_EMULATED=1 $(BIN)/pytest -q tests_host tests_target

check: $(STAMP)
	$(BIN)/jezgro check

build: $(STAMP)
	$(BIN)/jezgro build

bench: $(STAMP) .venv-iso15118/.installed firmware
	$(BIN)/jezgro bench

clean:
	rm -rf build sim_out

# --- iso15118 peer -------------------------------------------------------------------------------
# The iso15118 package in its own venv (it pins pydantic 1 and cryptography): its EXI codec
# (EXICodec.jar, Java) is the independent peer of the EXI tests and benches, its XSDs feed
# `jezgro exi generate`. Needs `java` (.ci/run installs a JRE when missing).
ISO15118_VENV  := .venv-iso15118
ISO15118_STAMP := $(ISO15118_VENV)/.installed

$(ISO15118_STAMP): requirements-iso15118.txt
	test -x $(ISO15118_VENV)/bin/python || $(PYTHON) -m venv $(ISO15118_VENV)
	$(ISO15118_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-iso15118.txt
	touch $(ISO15118_STAMP)

.PHONY: iso15118-venv exi-generate
iso15118-venv: $(ISO15118_STAMP)

exi-generate: $(STAMP) $(ISO15118_STAMP)
	$(BIN)/jezgro exi generate
# --- end iso15118 peer ---------------------------------------------------------------------------
