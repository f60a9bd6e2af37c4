"""The board image's flash and RAM map against the STM32H743ZI (2 MB flash, 512 KB AXI SRAM), read
from the linker's symbols in the ELF (`jezgro firmware build --target stm32` prints it;
docs/platform.md keeps the measured table)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

CHIP_FLASH_KB = 2048
FIRMWARE_REGION_KB = 1536  # boards/stm32h743.ld FLASH (sectors 0-7 bank 1 + 0-3 bank 2)
AXI_SRAM_KB = 512
# Symbols of ports/stm32/boards/stm32h743.ld and common_*.ld
SYMBOLS = ("_etext", "_sidata", "_sdata", "_edata", "_sbss", "_ebss", "_heap_start", "_heap_end",
           "_sstack", "_estack", "_micropy_hw_internal_flash_storage_start",
           "_micropy_hw_internal_flash_storage_end")
FLASH_BASE = 0x08000000


def symbols(elf: Path) -> dict[str, int]:
    nm = shutil.which("arm-none-eabi-nm")
    if not nm:
        raise SystemExit("arm-none-eabi-nm not found: apt-get install gcc-arm-none-eabi")
    out = subprocess.run([nm, str(elf)], capture_output=True, text=True, check=True).stdout
    found: dict[str, int] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] in SYMBOLS:
            found[parts[2]] = int(parts[0], 16)
    return found


def sizes(elf: Path) -> dict[str, int]:
    """Bytes: image (flash used by code + initialised data), fs, static RAM, GC heap, stack."""
    s = symbols(elf)
    data = s["_edata"] - s["_sdata"]
    return {
        "image": s["_sidata"] + data - FLASH_BASE,
        "fs": s["_micropy_hw_internal_flash_storage_end"] - s["_micropy_hw_internal_flash_storage_start"],
        "static_ram": s["_ebss"] - s["_sdata"],
        "data": data,
        "bss": s["_ebss"] - s["_sbss"],
        "gc_heap": s["_heap_end"] - s["_heap_start"],
        "stack": s["_estack"] - s["_sstack"],
    }


def table(elf: Path) -> str:
    z = sizes(elf)
    kb = lambda n: f"{n / 1024:.0f} KB"  # noqa: E731
    rows = [
        ("flash: firmware image (code + frozen firmware + init data)", kb(z["image"]),
         f"{FIRMWARE_REGION_KB} KB region", f"{100 * z['image'] / (FIRMWARE_REGION_KB * 1024):.0f} %"),
        ("flash: /flash filesystem (littlefs2)", kb(z["fs"]), f"{CHIP_FLASH_KB} KB chip", ""),
        ("AXI SRAM: static (.data + .bss)", kb(z["static_ram"]), f"{AXI_SRAM_KB} KB", ""),
        ("AXI SRAM: GC heap (all Python objects)", kb(z["gc_heap"]), f"{AXI_SRAM_KB} KB", ""),
        ("AXI SRAM: C stack", kb(z["stack"]), f"{AXI_SRAM_KB} KB", ""),
    ]
    lines = ["| region | size | of | used |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return "\n".join(lines)
