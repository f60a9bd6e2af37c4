# PLL state published by PLL_SYNC (tick context) to everyone else, without
# locks and without allocation: a sequence lock over one int32 array.
# The writer makes the sequence odd, writes, makes it even; a reader retries
# until it saw the same even sequence before and after copying.
#
# Fixed-point formats (documented here because every reader depends on them):
#   THETA   u32 phase accumulator stored as int32: 2^32 = one turn
#   OMEGA   grid angular frequency, Q16 rad/s (314.159 rad/s -> 20588881)
#   VD, VQ  Park-frame voltages, Q8 volts (325 V -> 83200)
#   LOCKED  0/1
import array
from micropython import const

SEQ = const(0)
THETA = const(1)
OMEGA = const(2)
VD = const(3)
VQ = const(4)
LOCKED = const(5)
FIELDS = const(6)
MAX_RETRIES = const(1000)


class SeqState:
    def __init__(self, n=FIELDS):
        self.a = array.array("i", bytes(4 * n))
        self.n = n
        self.retries = 0  # readers that had to retry: evidence of contention, not an error

    def publish(self, theta, omega, vd, vq, locked):
        a = self.a
        a[SEQ] = (a[SEQ] + 1) & 0x3FFFFFFF
        a[THETA] = theta
        a[OMEGA] = omega
        a[VD] = vd
        a[VQ] = vq
        a[LOCKED] = locked
        a[SEQ] = (a[SEQ] + 1) & 0x3FFFFFFF

    def read(self, out):
        # Copy a consistent snapshot into out (an array('i') of FIELDS); True on success.
        a = self.a
        n = self.n
        tries = 0
        while tries < MAX_RETRIES:
            s1 = a[SEQ]
            if not s1 & 1:
                i = 1
                while i < n:
                    out[i] = a[i]
                    i += 1
                if a[SEQ] == s1:
                    out[SEQ] = s1
                    return True
            tries += 1
            self.retries += 1
        return False


PLL = SeqState()
