// JEZGRO-GW unix port variant: the standard variant's features (what the PyPI unix wheel has and
// the simulation and host tests rely on) built from the pinned MicroPython v1.28.0 source, with
// the board's TLS (mbedTLS with TLS 1.3, boards/micropython/mbedtls/).
#define MICROPY_CONFIG_ROM_LEVEL (MICROPY_CONFIG_ROM_LEVEL_EXTRA_FEATURES)
#include "variants/mpconfigvariant_common.h"
