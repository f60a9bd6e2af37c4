# Freezes JEZGRO-GW into a MicroPython firmware image for the NUCLEO-H743ZI (bytecode in flash:
# no import-time compilation, no .mpy files in the heap, faster boot).
#
# Build: `make firmware-all` (jezgro firmware build --target stm32): the board definition
# boards/micropython/JEZGRO_H743 (NUCLEO_H743ZI + IPv6 + TLS 1.3) uses this manifest; docs/platform.md.
# Then `jezgro flash` writes build/micropython/out/jezgro-h743.hex, and the boot script goes to the
# filesystem: `mpremote cp boards/stm32h743/main.py :/flash/`.
# main.py stays on the filesystem (not frozen) so service mode and boot behaviour can be changed
# without reflashing. Remove any earlier `jezgro deploy` tree (/flash/jezgro, /flash/services,
# /flash/config, /flash/board.mpy): the filesystem comes before frozen modules on sys.path, so a
# stale copy there would shadow the frozen code.
#
# Paths below are relative to this file; `$(BOARD_DIR)` is boards/micropython/JEZGRO_H743, whose
# manifest (NUCLEO_H743ZI's) brings the port defaults (asyncio, networking bundle, ...).
include("$(BOARD_DIR)/manifest.py")

package("jezgro", base_path="../../firmware")
package("services", base_path="../../firmware")
package("config", base_path="../../firmware")
# The libraries the services of config/v2g.py and config/bridge.py import (power path, grid, OCPP, ISO 15118,
# SLAC, the bridge, with the EXI
# grammars: frozen, the grammar tables stay in flash instead of the GC heap).
for _pkg in ("msgs", "power", "grid", "net", "ocpp", "exi", "iso15118", "canbus", "slac", "bridge"):
    package(_pkg, base_path="../../firmware")
# The board layer: board.py and the power stage (ADC + TIM1) every CRITICAL service imports.
# tests_host/test_board_manifest.py checks that everything boot and the service tables import is here.
module("board.py", base_path=".")
module("power_stage.py", base_path=".")
