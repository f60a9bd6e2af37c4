# Fault injection: make any service crash, hang, stall or run out of memory on
# command (simulation and tests). The kernel applies these on the service's
# next step, so the fault happens inside that service's own execution.
from micropython import const

INJ_NONE = const(0)
INJ_CRASH = const(1)
INJ_HANG = const(2)  # busy loop without yielding: only an asynchronous watchdog can stop it
INJ_OOM = const(3)  # allocate until MemoryError
INJ_STALL = const(4)  # keeps yielding but never feeds its watchdog
KINDS = {"crash": INJ_CRASH, "hang": INJ_HANG, "oom": INJ_OOM, "stall": INJ_STALL}


class InjectedFault(Exception):
    pass


class Hang(Exception):
    # Raised into a hung service by the hang watchdog (a thread on unix, the
    # tick IRQ on the board, both via micropython.schedule).
    pass


def hang():
    n = 0
    while True:
        n = (n + 1) & 0xFFFF


def exhaust_memory():
    hog = []
    while True:
        hog.append(bytearray(1024))
