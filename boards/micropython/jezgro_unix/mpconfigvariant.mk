# JEZGRO-GW unix port variant (build: `jezgro firmware build --unix`, docs/platform.md).
# Not built: btree (berkeley-db) and ffi (libffi): nothing in the firmware uses them, and the
# pinned source set (shared/vendor/micropython) leaves those submodules out.
MICROPY_PY_BTREE = 0
MICROPY_PY_FFI = 0
FROZEN_MANIFEST ?= $(VARIANT_DIR)/manifest.py
include $(VARIANT_DIR)/../mbedtls/tls13.mk
