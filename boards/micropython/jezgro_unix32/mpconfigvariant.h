// JEZGRO-GW 32-bit unix port (memory measurements, docs/reliability.md): the jezgro_unix variant
// built with MICROPY_FORCE_32BIT, so every object has the board's size (32-bit words and pointers,
// 31-bit small ints), with the firmware frozen as on the board (bytecode and constants outside the heap).
#include "../jezgro_unix/mpconfigvariant.h"

// mbedTLS allocates from the GC heap as on the board (JEZGRO_MBEDTLS_GC_HEAP, mpconfigvariant.mk): its
// m_tracked_calloc hooks (the unix port has them only with FFI, which this variant leaves out).
#define MICROPY_TRACKED_ALLOC (1)
