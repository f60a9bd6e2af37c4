# Receive buffers allocated once, at service start, and reused by every connection (issue 16,
# docs/reliability.md "Memory that fits the board"). An 8 KB bytearray allocated per accepted
# connection and dropped at its end left the board's 440 KB heap with a largest free block of 4-8 KB
# after a few sessions: the next 8 KB buffer then failed with 200 KB free. Buffers taken from here
# are never freed, so they never punch holes in the heap.
#
# take(size) hands out the smallest free buffer of at least size bytes; give(buf) returns it. When
# none is free (more connections at once than the pool was sized for) a buffer is allocated as
# before and counted in `misses`: the connection still works, and the counter says the pool is small.


class BufPool:
    # sizes: ((buffer size, count), ...), smallest size first: the SECC has small buffers for pending
    # connections (their first message only) and full-size ones for the session.
    def __init__(self, sizes):
        bufs = []
        for size, count in sizes:
            for _ in range(count):
                bufs.append(bytearray(size))
        self.bufs = bufs
        self.free = [True] * len(bufs)
        self.misses = 0      # take() found no free buffer big enough: allocated one outside the pool
        self.in_use = 0
        self.peak = 0        # most pool buffers in use at once

    def take(self, size):
        bufs = self.bufs
        free = self.free
        for i in range(len(bufs)):  # ascending sizes: the first fit is the smallest fit
            if free[i] and len(bufs[i]) >= size:
                free[i] = False
                self.in_use += 1
                if self.in_use > self.peak:
                    self.peak = self.in_use
                return bufs[i]
        self.misses += 1
        return bytearray(size)

    def give(self, buf):
        # a buffer from take(); one allocated outside the pool is left to the collector
        bufs = self.bufs
        for i in range(len(bufs)):
            if bufs[i] is buf:
                if not self.free[i]:
                    self.free[i] = True
                    self.in_use -= 1
                return

    def stats(self):
        return {"buffers": len(self.bufs), "bytes": sum(len(b) for b in self.bufs), "in_use": self.in_use,
                "peak": self.peak, "misses": self.misses}
