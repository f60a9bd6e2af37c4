# Frozen into the emulated target (qemu port, MPS2_AN500: Cortex-M7 + double FPU), compiled by
# mpy-cross -march=armv7emdp as for the board: the firmware packages, the qemu board layer
# (boards/qemu: the power stage fed from recorded plant data) and asyncio for the kernel.
# Paths are relative to this file.
include("$(MPY_DIR)/extmod/asyncio")  # noqa: F821
for _pkg in ("jezgro", "services", "config", "msgs", "power", "grid", "net", "ocpp", "exi", "iso15118", "canbus"):
    package(_pkg, base_path="../../../firmware")  # noqa: F821
module("power_stage.py", base_path="../../qemu")  # noqa: F821
module("board.py", base_path="../../qemu")  # noqa: F821
