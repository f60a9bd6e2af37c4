// JEZGRO-GW 32-bit unix port (memory measurements, docs/reliability.md): the jezgro_unix variant
// built with MICROPY_FORCE_32BIT, so every object has the board's size (32-bit words and pointers,
// 31-bit small ints), with the firmware frozen as on the board (bytecode and constants outside the heap).
#include "../jezgro_unix/mpconfigvariant.h"
