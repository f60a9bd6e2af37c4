# SLAC codec fuzz (MicroPython): N inputs made from the valid frames of every message (bit flips,
# truncation, extension, a header of one message on the body of another, random bytes) through
# mme.parse and, for the accepted ones, every accessor the state machines use. Any exception is a
# failure; every rejected input must be counted once in Rx.errors.
import random
import l_frames
from slac import mme as m

OFFS = (0, 1, 2, 6, 19, 50, 51, 60)


def run(n, seed=1, sink=None):
    random.seed(seed)
    seeds = [f for _, f in l_frames.frames()]
    rx = m.Rx()
    buf = bytearray(m.MAX_FRAME + 64)
    accepted = 0
    crashes = []
    for i in range(n):
        f = bytearray(seeds[random.getrandbits(8) % len(seeds)])
        how = random.getrandbits(3)
        if how == 0:
            f = f[:random.getrandbits(7) % (len(f) + 1)]
        elif how == 1:
            f += bytes(random.getrandbits(8) for _ in range(random.getrandbits(6)))
        elif how == 2:
            g = seeds[random.getrandbits(8) % len(seeds)]
            f = f[:19] + g[19:]
        elif how == 3:
            f = bytearray(random.getrandbits(8) for _ in range(random.getrandbits(7)))
            if len(f) > 14 and random.getrandbits(1):
                f[12] = 0x88
                f[13] = 0xE1
        elif how == 4:
            f = bytearray(m.MAX_FRAME + 1 + random.getrandbits(5))
        flips = random.getrandbits(2) + (1 if how >= 5 else 0)
        for _ in range(flips):
            if f:
                f[random.getrandbits(16) % len(f)] ^= 1 << random.getrandbits(3)
        n_ = len(f)
        buf[:n_] = f
        try:
            t = m.parse(rx, buf, n_)
            if t >= 0:
                accepted += 1
                for o in OFFS:
                    if rx.body + o < n_:
                        rx.u8(o)
                if t == m.CM_ATTEN_CHAR | m.IND:
                    m.average(rx, m.AC_AAG, rx.u8(m.AC_GROUPS))
                elif t == m.CM_ATTEN_PROFILE | m.IND:
                    m.average(rx, m.AP_AAG, rx.u8(m.AP_GROUPS))
                if sink is not None:
                    sink(rx, t)
        except Exception as e:  # noqa: BLE001 - the point: nothing may escape
            if len(crashes) < 5:
                crashes.append([bytes(f).hex(), type(e).__name__, str(e)])
            else:
                crashes.append(None)
    return {"inputs": n, "accepted": accepted, "rejected": sum(rx.errors), "errors": rx.error_counts(),
            "frames": rx.frames, "crashes": len(crashes), "crash_samples": [c for c in crashes if c]}
