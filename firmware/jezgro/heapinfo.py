# The GC heap's state for an out-of-memory report: how much is free and the
# largest block one allocation could still get (fragmentation). MicroPython
# prints the largest free block only through micropython.mem_info(), to the
# console, where no report can read it back; so it is probed here: a binary
# search with trial allocations, each failing one costing a collection. Only
# for fault paths and reports (tens of ms on the board), never in a tick.
import gc

GRAIN = 16  # a GC block on 32-bit targets: the probe's resolution


def _fits(n):
    # raises MemoryError unless n bytes can be had in one block; what it allocates is garbage at once
    bytearray(n)


def largest_free():
    # The largest bytearray that can be allocated now, bytes (within GRAIN).
    lo = 0
    hi = gc.mem_free() + 1
    while hi - lo > GRAIN:
        mid = (lo + hi) // 2
        try:
            _fits(mid)
            lo = mid
        except MemoryError:
            hi = mid
    return lo


def state():
    # -> (free, used, largest free block), bytes, after a collection
    gc.collect()
    return gc.mem_free(), gc.mem_alloc(), largest_free()


def describe(st):
    free, used, largest = st
    return "heap %d B: %d B used, %d B free, largest free block %d B" % (free + used, used, free, largest)


def as_dict(st):
    return {"free": st[0], "used": st[1], "largest_free": st[2]}
