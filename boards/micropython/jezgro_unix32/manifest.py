# Frozen into the 32-bit JEZGRO unix port: the unix port's standard set and the firmware packages the
# board freezes (boards/stm32h743/manifest.py), so module-level objects and code sit where the board has
# them. The board layer is the unix one (boards/unix on MICROPYPATH), not frozen.
include("$(PORT_DIR)/variants/manifest.py")  # noqa: F821 (manifest.py builtins)
include("$(MPY_DIR)/extmod/asyncio")  # noqa: F821
for _pkg in ("jezgro", "services", "config", "msgs", "power", "grid", "net", "ocpp", "exi", "iso15118", "canbus",
             "slac", "bridge"):
    package(_pkg, base_path="../../../firmware")  # noqa: F821
