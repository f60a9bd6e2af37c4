"""The JEZGRO_H743 board image (`make firmware-all`, built by `make test`): it fits the chip, carries
what the issue needs the board build for (lwIP IPv6 with link-local addresses and MLD, mbedTLS with
TLS 1.3) and has every module of the manifest frozen in. Skipped when the image is not built, except
under `make test` (JEZGRO_REQUIRE_EMULATED=1), which builds it."""
from __future__ import annotations

import os
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
