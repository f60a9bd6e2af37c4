# Freezes JEZGRO-GW into a MicroPython firmware image for the NUCLEO-H743ZI (bytecode in flash:
# no import-time compilation, no .mpy files in the heap, faster boot).
#
# Build, in a MicroPython checkout matching the pinned toolchain (v1.28):
#   git clone --branch v1.28.0 https://github.com/micropython/micropython && cd micropython
#   make -C mpy-cross
#   make -C ports/stm32 BOARD=NUCLEO_H743ZI submodules
#   make -C ports/stm32 BOARD=NUCLEO_H743ZI FROZEN_MANIFEST=/path/to/jezgro-gw/boards/stm32h743/manifest.py
# then flash ports/stm32/build-NUCLEO_H743ZI/firmware.hex (STM32CubeProgrammer, or
# `make ... deploy-stlink`), and copy the boot script: `mpremote cp boards/stm32h743/main.py :/flash/`.
# main.py stays on the filesystem (not frozen) so service mode and boot behaviour can be changed
# without reflashing. Remove any earlier `jezgro deploy` tree (/flash/jezgro, /flash/services,
# /flash/config, /flash/board.mpy): the filesystem comes before frozen modules on sys.path, so a
# stale copy there would shadow the frozen code.
#
# Paths below are relative to this file; `$(BOARD_DIR)` is the port's NUCLEO_H743ZI directory,
# whose manifest brings the port defaults (asyncio, ...).
include("$(BOARD_DIR)/manifest.py")

package("jezgro", base_path="../../firmware")
package("services", base_path="../../firmware")
package("config", base_path="../../firmware")
# The libraries the services of config/v2g.py import (power path, grid, OCPP, ISO 15118 with its EXI
# grammars: frozen, the grammar tables stay in flash instead of the GC heap).
for _pkg in ("msgs", "power", "grid", "net", "ocpp", "exi", "iso15118", "slac"):
    package(_pkg, base_path="../../firmware")
module("board.py", base_path=".")
