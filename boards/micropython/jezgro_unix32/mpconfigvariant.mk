# JEZGRO-GW 32-bit unix port (`jezgro firmware build --target unix32`, needs gcc-multilib): the board's
# object sizes with the simulation's peers (sockets, the simulated EV), for docs/reliability.md's memory
# table (`python -m jezgro_host.mem32`). Frozen code is compiled for x86 (native/viper functions included).
MICROPY_PY_BTREE = 0
MICROPY_PY_FFI = 0
MICROPY_FORCE_32BIT = 1
# mbedTLS allocates from the GC heap, as on the board (mbedtls/jezgro_mbedtls_config.h)
CFLAGS_EXTRA += -DJEZGRO_MBEDTLS_GC_HEAP=1
MPY_CROSS_FLAGS += -march=x86
FROZEN_MANIFEST ?= $(VARIANT_DIR)/manifest.py
include $(VARIANT_DIR)/../mbedtls/tls13.mk
