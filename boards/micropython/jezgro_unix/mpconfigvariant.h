// JEZGRO-GW unix port variant: the standard variant's features (what the PyPI unix wheel has and
// the simulation and host tests rely on) built from the pinned MicroPython v1.28.0 source, with
// the board's TLS (mbedTLS with TLS 1.3, boards/micropython/mbedtls/).
#define MICROPY_CONFIG_ROM_LEVEL (MICROPY_CONFIG_ROM_LEVEL_EXTRA_FEATURES)
#include "variants/mpconfigvariant_common.h"

// SIGINT (the simulation's hang watcher breaking a hung service, boards/unix/board.py; Ctrl-C) becomes a
// pending KeyboardInterrupt of the main thread, raised at its next bytecode, as on the board
// (mp_sched_exception), instead of an nlr_raise straight from the signal handler (the unix default
// without a GIL). That one jumped out of whatever C the signal interrupted, in whichever thread the
// kernel picked: out of gc_alloc holding the GC mutex (the next allocation blocked for good: the chaos
// soak's silent stops, main thread waiting on the mutex, the watcher thread sleeping) or out of a
// heap_lock()ed section (the soak's "MemoryError: heap is locked").
#undef MICROPY_ASYNC_KBD_INTR
#define MICROPY_ASYNC_KBD_INTR (0)
