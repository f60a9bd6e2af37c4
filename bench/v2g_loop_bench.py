# Charge-loop response time of our SECC against the 25 ms performance time (ISO 15118-2
# V2G_SECC_CurrentDemand/ChargingStatus performance time, -20's charge-loop equivalents, DIN's
# [V2G-DC-500]), run under MicroPython (`jezgro bench` / `make bench`). Our EVCC and our SECC run whole
# sessions against each other through an in-process link (bench/v2g_pipe.py), so every protocol the
# two support is measured with real documents; the SECC's own record gives receive-to-sent time per
# charge-loop response. Baseline in the same run: EXI decode of the same request plus encode of the
# same response alone, i.e. what the session layer and framing add. Heap: live bytes (after a
# collection) in the middle of the charge loop, both roles and their grammars loaded, against the
# ISO15118 service's 128 KB budget (an upper bound for the SECC alone).
import gc
import json
import sys
import time

from exi import codec, schemas
from iso15118.evcc.ev_model import EvModel
from iso15118.evcc import session as evcc_session
from iso15118.secc.evse_limits import EvseLimits
from iso15118.secc import session as secc_session
from iso15118.transport import v2gtp
import v2g_pipe

LOOPS = 60
BUDGET_US = 25000
SERVICE_BUDGET = 128 * 1024
ORDER = ("din", "iso2-dc", "iso2-ac", "iso20-dc-bpt", "iso20-ac-bpt")
LOOP_NAMES = ("CurrentDemandReq", "ChargingStatusReq", "DC_ChargeLoopReq", "AC_ChargeLoopReq")


# the grammar a -20 V2GTP payload type uses; any other: the session protocol's
PT_20_SCHEMA = {v2gtp.PT_20_COMMON: "iso20-common", v2gtp.PT_20_DC: "iso20-dc", v2gtp.PT_20_AC: "iso20-ac"}


def _schema(protocol_schema, pt):
    return PT_20_SCHEMA.get(pt, protocol_schema)


def run_pair(name, loops):
    ns, service = evcc_session.PROTOCOL_NAMES[name]
    ev = EvModel(energy_service=service, loops=loops, loop_ms=0, soc=20, target_soc=95)
    secc_rx, evcc_rx = [], []
    heap = []
    secc_end, evcc_end = v2g_pipe.pair()

    def seen_by_secc(m):
        secc_rx.append(m)
        if len(secc_rx) == 12 + loops // 2 and not heap:
            gc.collect()
            heap.append(gc.mem_alloc() - base)
    secc_end.on_recv = seen_by_secc
    evcc_end.on_recv = evcc_rx.append
    for n in schemas.MODULES:  # each run loads what it needs: grammars count in its heap
        schemas.release(n)
    gc.collect()
    base = gc.mem_alloc()
    secc = secc_session.SeccSession(EvseLimits())
    evcc = evcc_session.EvccSession(ev, [ns])
    ctx = v2g_pipe.Ctx()
    rs, re = v2g_pipe.drive([secc.run(ctx, secc_end), evcc.run(ctx, evcc_end)])
    return rs, re, secc_rx, evcc_rx, heap[0] if heap else 0


def codec_only_us(rs, secc_rx, evcc_rx, protocol_schema):
    # the same charge-loop request decoded and response encoded, nothing else
    pairs = []
    for i, req in enumerate(rs.requests):
        if req in LOOP_NAMES and i < len(secc_rx) and i < len(evcc_rx):
            pairs.append((secc_rx[i], evcc_rx[i]))
    if not pairs:
        return 0
    (pt_q, q), (pt_s, s) = pairs[len(pairs) // 2]
    gq, gs = schemas.grammar(_schema(protocol_schema, pt_q)), schemas.grammar(_schema(protocol_schema, pt_s))
    res_doc = codec.decode(gs, s)
    n = 100
    t0 = time.ticks_us()
    for _ in range(n):
        codec.decode(gq, q)
        codec.encode(gs, res_doc)
    return time.ticks_diff(time.ticks_us(), t0) / n


def main():
    as_json = "--json" in sys.argv
    rows = []
    for name in ORDER:
        ns = evcc_session.PROTOCOL_NAMES[name][0]
        if ns not in evcc_session.MACHINES or ns not in secc_session.sap.SUPPORTED:
            rows.append({"protocol": name, "end": "not supported by both roles"})
            continue
        rs, re, secc_rx, evcc_rx, heap = run_pair(name, LOOPS)
        loop = sorted(rs.loop_us)
        row = {"protocol": name, "end": rs.end, "evcc_end": re.end, "loops": len(loop), "heap": heap}
        if loop:
            row.update(mean_us=sum(loop) / len(loop), p95_us=loop[(len(loop) * 95) // 100], max_us=loop[-1],
                       codec_us=codec_only_us(rs, secc_rx, evcc_rx, secc_session.sap.SUPPORTED[ns][2]))
        rows.append(row)
        gc.collect()
    if as_json:
        print(json.dumps({"rows": rows, "budget_us": BUDGET_US}))
        return
    print("SECC charge-loop response (request received -> response sent), our EVCC in-process; "
          "baseline: decode+encode only")
    print("%-14s %5s %9s %9s %9s %9s %7s %9s %10s  %s" % ("protocol", "loops", "mean us", "p95 us", "max us",
                                                        "codec us", "x codec", "of 25 ms", "heap KB", "end"))
    for r in rows:
        if "mean_us" not in r:
            print("%-14s %5s %9s %9s %9s %9s %7s %9s %10s  %s" % (r["protocol"], r.get("loops", "-"), "-", "-", "-",
                                                                "-", "-", "-", "-", r["end"]))
            continue
        print("%-14s %5d %9.0f %9d %9d %9.0f %7.2f %8.1f%% %5.1f/128  %s" % (
            r["protocol"], r["loops"], r["mean_us"], r["p95_us"], r["max_us"], r["codec_us"],
            r["mean_us"] / r["codec_us"] if r["codec_us"] else 0, 100 * r["max_us"] / BUDGET_US,
            r["heap"] / 1024, r["end"] if r["end"] == r["evcc_end"] else "%s/%s" % (r["end"], r["evcc_end"])))


main()
