# SLAC benchmarks under MicroPython (`jezgro bench`): the codec's check of every received message and
# the state machines' handling of a whole match (EV and EVSE, in-process, the EVSE's simulated modem
# in between), each next to a same-process baseline (copying the same bytes); the bytes the receive
# path allocates per frame (0 is the design); and the SLAC service's heap against its 32 KB budget
# (spec §2.1): the objects it holds, and the peak while a match runs.
import sys
import benchutil
import json
import gc
import plc
from slac import mme as m
from slac import evse as E
from slac import ev as V
from slac import pilot

N = 2000
EV_MAC = b"\x02\x00\x00\x00\x00\x01"
EVSE_MAC = b"\x02\x00\x00\x00\x00\x02"
RUN = b"\x11\x22\x33\x44\x55\x66\x77\x88"
BUDGET = 32 * 1024
rows = []


timed = benchutil.timed
row = benchutil.rower(rows)


tx = bytearray(m.MAX_FRAME)
aag = bytes(20 for _ in range(m.GROUPS))
nmk = bytes(range(16))
nid = m.nid_from_nmk(nmk)
# the frames again, each in its own bytearray
msgs = []
for name, fn in (("CM_SLAC_PARM.REQ", lambda: m.build_slac_parm_req(tx, EV_MAC, RUN)),
                 ("CM_START_ATTEN_CHAR.IND", lambda: m.build_start_atten_char(tx, EV_MAC, RUN, 10, 6)),
                 ("CM_MNBC_SOUND.IND", lambda: m.build_mnbc_sound(tx, EV_MAC, RUN, 9, bytes(16))),
                 ("CM_ATTEN_PROFILE.IND", lambda: m.build_atten_profile(tx, EVSE_MAC, EVSE_MAC, EV_MAC, aag)),
                 ("CM_ATTEN_CHAR.IND", lambda: m.build_atten_char_ind(tx, EVSE_MAC, EV_MAC, RUN, 10, aag)),
                 ("CM_SLAC_MATCH.REQ", lambda: m.build_match_req(tx, EV_MAC, EVSE_MAC, RUN)),
                 ("CM_SLAC_MATCH.CNF", lambda: m.build_match_cnf(tx, EVSE_MAC, EV_MAC, RUN, nid, nmk))):
    n = fn()
    msgs.append((name, bytearray(tx[:n]), n))

rx = m.Rx()
alloc = {}
for name, f, n in msgs:
    def parse(k, f=f, n=n):
        for _ in range(k):
            m.parse(rx, f, n)

    def copy(k, f=f):
        for _ in range(k):
            bytearray(f)

    row("parse %s" % name, timed(parse, N), timed(copy, N), "mme.parse: every length and field")
    gc.collect()
    gc.disable()
    a0 = gc.mem_alloc()
    parse(200)
    alloc[name] = (gc.mem_alloc() - a0) / 200
    gc.enable()


class Clock:
    now = 0

    def ticks_diff(self, a, b):
        return a - b

    def ticks_add(self, a, d):
        return a + d


def match_once(peak=None):
    # a whole match, EV + EVSE + the EVSE's simulated modem: -> frames handled
    clk = Clock()
    to_evse = []
    to_ev = []
    evse = E.EvseSlac(EVSE_MAC, lambda t, n: to_ev.append(bytes(t[:n])), clk)
    ev = V.EvSlac(EV_MAC, lambda t, n: to_evse.append(bytes(t[:n])), clk)
    evse.set_key(nid, nmk)
    modem = plc.SimModem(EVSE_MAC, {EV_MAC: 20}, True)
    buf = bytearray(m.MAX_FRAME)
    r = m.Rx()
    evse.enable(0)
    ev.start(0)
    handled = 0
    while ev.state != V.MATCHED and clk.now < 3000:
        while to_evse:
            f = to_evse.pop(0)
            buf[:len(f)] = f
            modem.heard(buf, len(f))
            evse.on_frame(r, m.parse(r, buf, len(f)), clk.now)
            handled += 1
            k = modem.pop(buf)
            while k:
                evse.on_frame(r, m.parse(r, buf, k), clk.now)
                handled += 1
                k = modem.pop(buf)
        while to_ev:
            f = to_ev.pop(0)
            ev.on_frame(r, m.parse(r, f, len(f)), clk.now)
            handled += 1
        evse.poll(clk.now)
        ev.poll(clk.now)
        clk.now += 1
        if peak is not None and clk.now % 25 == 0:
            gc.collect()
            peak[0] = max(peak[0], gc.mem_alloc() - peak[1])
    return handled, evse


def matches(k):
    for _ in range(k):
        match_once()


h, _ = match_once()
t_match = timed(matches, 20)


def copies(k):
    for _ in range(k):
        for _ in range(h):
            bytearray(64)


row("whole match (%d frames handled)" % h, t_match, timed(copies, 20),
    "EV + EVSE machines, 3 s virtual; baseline: one 64 B copy per frame")
row("  per frame in a match", t_match / h, timed(copies, 20) / h, "parse + on_frame + the ms polls, averaged")

# the service's heap: what the SLAC service holds (machine, buffers, pilot, status) and the peak in a match
gc.collect()
base = gc.mem_alloc()
held = [E.EvseSlac(EVSE_MAC, lambda t, n: None, Clock()), m.Rx(), bytearray(m.MAX_FRAME), bytearray(m.MAX_FRAME),
        pilot.Pilot()]
gc.collect()
held_bytes = gc.mem_alloc() - base
del held
gc.collect()
peak = [0, gc.mem_alloc()]
match_once(peak)

out = {"rows": rows, "rx_alloc_bytes_per_frame": alloc, "service_held_bytes": held_bytes,
       "match_peak_bytes": peak[0], "budget_bytes": BUDGET}
if "--json" in sys.argv:
    print(json.dumps(out))
else:
    print("%-40s %10s %12s %7s  %s" % ("benchmark", "us/op", "baseline us", "ratio", "what"))
    for r in rows:
        print("%-40s %10.2f %12.2f %7.1f  %s" % (r["name"], r["us"], r["baseline_us"], r["ratio"], r["note"]))
    print("receive path allocation per frame (bytes): %s" % ", ".join(
        "%s %.0f" % (k, v) for k, v in alloc.items()))
    print("SLAC heap: %d bytes held by the EVSE machine, buffers and pilot; %d bytes peak during a whole match "
          "(both machines + modem); budget %d bytes (%.0f %% used at peak; unix objects ~1.5-2x the board's)"
          % (held_bytes, peak[0], BUDGET, 100.0 * peak[0] / BUDGET))
