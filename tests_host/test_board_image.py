"""The JEZGRO_H743 board image (`make firmware-all`, built by `make test`): it fits the chip, carries
what the issue needs the board build for (lwIP IPv6 with link-local addresses and MLD, mbedTLS with
TLS 1.3) and has every module of the manifest frozen in. Skipped when the image is not built, except
under `make test` (JEZGRO_REQUIRE_EMULATED=1), which builds it."""
from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from jezgro_host import firmware, fwsize
from test_board_manifest import frozen_modules

ELF = firmware.OUT / "jezgro-h743.elf"
BIN = firmware.OUT / "jezgro-h743.bin"


@pytest.fixture(scope="module")
def image():
    if not ELF.exists() or not shutil.which("arm-none-eabi-nm"):
        if os.environ.get("JEZGRO_REQUIRE_EMULATED") == "1":
            pytest.fail(f"{ELF} not built (make firmware-all) or arm-none-eabi-nm missing")
        pytest.skip(f"board image not built: make firmware-all ({ELF})")
    return ELF


def test_the_image_fits_the_chip_with_the_board_heap(image):
    z = fwsize.sizes(image)
    assert z["image"] <= fwsize.FIRMWARE_REGION_KB * 1024
    assert z["fs"] == 512 * 1024  # /flash stays as big as the stock board's
    assert z["gc_heap"] >= 430 * 1024  # the ~440 KB the firmware is budgeted against
    print(fwsize.table(image))


def test_the_image_has_ipv6_link_local_mld_and_tls13(image):
    syms = set(subprocess.run(["arm-none-eabi-nm", str(image)], capture_output=True, text=True,
                              check=True).stdout.split())
    for s in ("ethip6_output", "netif_create_ip6_linklocal_address", "nd6_tmr", "mld6_input",
              "mbedtls_ssl_tls13_handshake_client_step", "mbedtls_ssl_tls13_handshake_server_step",
              "psa_crypto_init"):
        assert s in syms, s


def test_every_manifest_module_is_frozen_in_the_image(image):
    data = BIN.read_bytes()
    missing = [name for name, src in frozen_modules().items()
               if (name.replace(".", "/") + ("/__init__.py" if src.name == "__init__.py" else ".py")).encode()
               not in data]
    assert not missing, missing


def test_the_image_has_the_hang_break_module(image):
    # boards/stm32h743/board.py breaks a hung service through jezgro_irq.break_main() (the C module of
    # boards/micropython/modules): without it the board would fall back to the watchdog reset silently.
    syms = set(subprocess.run(["arm-none-eabi-nm", str(image)], capture_output=True, text=True,
                              check=True).stdout.split())
    for s in ("jezgro_irq_module", "jezgro_irq_break_main", "mp_sched_exception"):
        assert s in syms, s
    assert b"jezgro_irq" in BIN.read_bytes()  # the module's name (qstr) in the image


def test_the_board_stub_of_jezgro_irq_names_what_the_board_build_exports():
    # mypy checks board.py against boards/stm32h743/jezgro_irq.pyi: it must declare exactly the
    # functions the C module has outside its emulator-only (QEMU_SOC_MPS2) part.
    src = (firmware.USER_C_MODULES / "jezgro_irq" / "jezgro_irq.c").read_text()
    table = src[src.index("jezgro_irq_globals_table[] = {"):]
    table = table[:table.index("};")]
    board_part = re.sub(r"#if defined\(QEMU_SOC_MPS2\).*?#endif", "", table, flags=re.S)
    exported = set(re.findall(r"MP_QSTR_(\w+)\), MP_ROM_PTR", board_part))
    stub = (firmware.ROOT / "boards" / "stm32h743" / "jezgro_irq.pyi").read_text()
    declared = set(re.findall(r"^def (\w+)\(", stub, flags=re.M))
    assert exported == declared == {"break_main", "pending"}
