# Protocol-bridge benchmarks, run under MicroPython (`jezgro bench` / `make bench`):
# 1. heap held by each bridge service's state (PROTOCOL_A with two connected 1.6J chargers and a
#    Modbus wallbox, TRANSLATOR with open transactions, PROTOCOL_B's 2.0.1 client, ETHERNET) against
#    its row of the spec §2.2 table (firmware/config/bridge.py) and the ~256 KB total;
# 2. translation time per message (TRANSLATOR's translate() of each 1.6 CALL kind, and of CSMS
#    requests for a charger) against the bare json.loads + json.dumps of the same message text,
#    measured in the same process, and the bytes one translation allocates.
import sys
import os
import gc
import time
import json
import socket
import board
from jezgro.kernel import Kernel
from config import bridge as table_mod

CHARGERS = [{"id": "CP-A", "password": "cp-a-secret-0123456789", "phases": 3},
            {"id": "CP-B", "password": "cp-b-secret-0123456789", "phases": 1},
            {"id": "WB-1", "modbus": {"host": "127.0.0.1", "port": 1502, "map": "alfen_ng9xx.json"}}]


def now_iso():
    g = time.gmtime()
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % g[:6]


def budget(name):
    for s in table_mod.TABLE:
        if s.name == name:
            return s.memory_kb * 1024
    return 0


def setup():
    board.configure(False)
    for f in os.listdir(board.FS_ROOT):
        if f.startswith(("ocpp_", "bridge_")):
            os.remove(board.FS_ROOT + "/" + f)
    with open(board.FS_ROOT + "/alfen_ng9xx.json", "w") as f:
        with open("firmware/bridge/maps/alfen_ng9xx.json") as g:
            f.write(g.read())
    k = Kernel(table_mod.TABLE, board)
    return k


def measured(fn):
    # (result, bytes it holds on the heap)
    gc.collect()
    m0 = gc.mem_alloc()
    r = fn()
    gc.collect()
    return r, gc.mem_alloc() - m0


def sock_pair(port):
    lst = socket.socket()
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind(socket.getaddrinfo("127.0.0.1", port)[0][-1])
    lst.listen(2)
    c = socket.socket()
    c.connect(socket.getaddrinfo("127.0.0.1", port)[0][-1])
    s, _ = lst.accept()
    lst.close()
    return c, s


def heap_rows(k):
    from bridge import config
    from bridge.handoff import BUS
    cfg = config.parse(json.dumps({"port": 9016, "chargers": CHARGERS}))
    maps = config.load_maps(board.FS_ROOT, cfg)
    rows = []
    total = 0
    # PROTOCOL_A: the Central System, two chargers connected (their receive buffers), the wallbox
    from bridge.central16 import CentralSystem
    from net.wsserver import ServerConn, ST_OPEN
    pa = k.services[1]
    socks = []

    def make_a():
        cs = CentralSystem(pa, cfg, maps)
        for i in (0, 1):
            c, s = sock_pair(48100 + i + (os.urandom(1)[0] * 4))
            socks.extend((c, s))
            conn = ServerConn(pa, s, 8192)
            conn.state = ST_OPEN
            cs.chargers[i].conn = conn
        return cs
    cs, a = measured(make_a)
    rows.append(["PROTOCOL_A (2 chargers connected, 1 wallbox)", a, "bytes", "table memory", budget("PROTOCOL_A"),
                 "bytes", a / budget("PROTOCOL_A")])
    total += a
    # TRANSLATOR with an open transaction per charger and a full replay memo
    from bridge.translator import Translator
    from bridge import translate16
    gc.collect()
    m0 = gc.mem_alloc()
    tr = Translator(k.services[3], cfg)
    st = tr.st
    ts = now_iso()
    for i, ch in enumerate(cfg["chargers"]):
        translate16.translate(st, ch, i, "%d/s" % i, "StartTransaction",
                              {"connectorId": 1, "idTag": "TAG%d" % i, "meterStart": 0, "timestamp": ts}, None, True,
                              "cache")
    for n in range(48):
        st.remember("0/m%d" % n, [3, {"idTagInfo": {"status": "Accepted"}}])
    gc.collect()
    t = gc.mem_alloc() - m0
    rows.append(["TRANSLATOR (3 open transactions, full memo)", t, "bytes", "table memory", budget("TRANSLATOR"),
                 "bytes", t / budget("TRANSLATOR")])
    total += t
    # PROTOCOL_B: the OCPP 2.0.1 client (its WebSocket buffer, device model, queue) and the bridge glue
    from ocpp import config as ocfg
    from ocpp.client import Client
    from bridge import upstream
    pb = k.services[2]
    ccfg = ocfg.parse(json.dumps({"url": "ws://127.0.0.1:9/ocpp", "station_id": "BENCH", "security_profile": 0}))
    ccfg["connectors"] = config.evse_count(cfg)

    def make_b():
        cl = Client(pb, ccfg, board.FS_ROOT, None)
        return upstream.install(cl, cfg)
    up, b = measured(make_b)
    rows.append(["PROTOCOL_B (2.0.1 client, 3 EVSEs)", b, "bytes", "table memory", budget("PROTOCOL_B"), "bytes",
                 b / budget("PROTOCOL_B")])
    total += b
    # the hand-off queues full to their byte bounds (bridge/handoff.py) with MeterValues of n values
    # (context, measurand, unit, phase each): 6 (~2.7 KB of heap each on the unix port) and 24 (~9.5 KB:
    # one passes an empty queue alone, so this is the worst case of one large message each way)
    def meter_text(n):
        return json.dumps({"connectorId": 1, "transactionId": 1, "meterValue": [{"timestamp": ts, "sampledValue": [
            {"value": "%d" % (1000 + i), "context": "Sample.Periodic", "measurand": "Energy.Active.Import.Register",
             "unit": "Wh", "phase": "L%d" % (1 + i % 3)} for i in range(n)]}]})

    def fill(text, tag):
        n = 0
        while n < 40 and BUS.put_in("0/%s%d" % (tag, n), 0, "MeterValues", json.loads(text), 0):
            n += 1
        while n < 80 and BUS.push_up("0/%s%d/t" % (tag, n), "TransactionEvent", json.loads(text), 0):
            n += 1
        return BUS

    def empty():
        for e in list(BUS.inbox):
            BUS.done_in(e[0])
        while BUS.up:
            BUS.pop_up()
    h = 0
    for values in (6, 24):
        text = meter_text(values)
        _, hv = measured(lambda: fill(text, "v%d_" % values))
        rows.append(["hand-off queues full by bytes, MeterValues of %d values (%d in, %d up)" % (
            values, len(BUS.inbox), len(BUS.up)), hv, "bytes", "TRANSLATOR memory", budget("TRANSLATOR"),
            "bytes", hv / budget("TRANSLATOR")])
        h = max(h, hv)
        empty()
    total += h
    from net.netstate import NET
    NET.status()
    _, e = measured(lambda: [NET.cache.update({("csms.example.com", 443 + n): [("x" * 16,), 0]}) for n in range(8)])
    rows.append(["ETHERNET (name cache full)", e, "bytes", "table memory", budget("ETHERNET"), "bytes",
                 e / budget("ETHERNET")])
    total += e
    rows.append(["bridge services total (these four)", total, "bytes", "configuration total", table_mod.TOTAL_KB * 1024,
                 "bytes", total / (table_mod.TOTAL_KB * 1024)])
    for s in socks:
        s.close()
    return rows, cfg, up, cs


def timed(fn, text, n):
    # (µs for n runs of fn, µs for n json.loads + json.dumps of text: the same-run baseline)
    ta = time.ticks_us()
    for _ in range(n):
        fn()
    a = time.ticks_diff(time.ticks_us(), ta)
    tb = time.ticks_us()
    for _ in range(n):
        json.dumps(json.loads(text))
    return a, time.ticks_diff(time.ticks_us(), tb)


def per_message(cfg):
    from bridge import translate16, translate201
    from bridge.txstate import State
    st = State(board.FS_ROOT, len(cfg["chargers"]), 300)
    ch = cfg["chargers"][0]
    ts = now_iso()
    sv = [{"value": "1234.5", "measurand": "Energy.Active.Import.Register", "unit": "Wh", "context": "Sample.Periodic"},
          {"value": "1.2345", "measurand": "Energy.Active.Import.Register", "unit": "kWh"}] + [
        {"value": "16.0", "measurand": "Current.Import", "unit": "A", "phase": p} for p in ("L1", "L2", "L3")] + [
        {"value": "230.1", "measurand": "Voltage", "unit": "V", "phase": "L1-N"}]
    tid, _ = st.new_tx(0, "CP-A", 1)
    msgs16 = [
        ("Heartbeat", {}),
        ("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Charging", "timestamp": ts}),
        ("MeterValues (6 values)", {"connectorId": 1, "transactionId": tid, "meterValue": [{"timestamp": ts,
                                                                                            "sampledValue": sv}]}),
        ("StartTransaction", {"connectorId": 2 - 1, "idTag": "TAG", "meterStart": 100, "timestamp": ts}),
        ("StopTransaction", {"transactionId": tid, "meterStop": 2000, "timestamp": ts, "reason": "EVDisconnected"}),
    ]
    rows = []
    for name, p in msgs16:
        action = name.split(" ")[0]
        text = json.dumps([2, "id", action, p])
        n = 200

        def once():
            q = json.loads(text)[3]
            if action == "StartTransaction":
                st.tx.clear()
            if action == "StopTransaction":
                st.tx[str(tid)] = {"id": "CP-A-1", "seq": 1, "charger": 0, "conn": 1, "state": "Charging"}
            res, ups = translate16.translate(st, ch, 0, "0/id", action, q, None, True, "cache")
            for u in ups:
                json.dumps(u[2])
            return json.dumps(res)
        once()
        gc.collect()
        m0 = gc.mem_alloc()
        once()
        alloc = gc.mem_alloc() - m0
        a, b = timed(once, text, n)
        rows.append(["1.6 -> 2.0.1 " + name, a // n, "us/msg", "json.loads+dumps of the same text", b // n, "us",
                     a / max(1, b)])
        rows.append(["  allocated per translation", alloc, "bytes", "TRANSLATOR memory", budget("TRANSLATOR"),
                     "bytes", alloc / budget("TRANSLATOR")])
    prof = {"id": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Absolute",
            "chargingSchedule": [{"id": 1, "chargingRateUnit": "W", "chargingSchedulePeriod": [
                {"startPeriod": i * 900, "limit": 11000 - i * 500} for i in range(12)]}]}
    reqs = [("SetChargingProfile (12 periods, W -> A)", "SetChargingProfile", {"evseId": 1, "chargingProfile": prof}),
            ("GetVariables (2 keys)", "GetVariables", {"getVariableData": [
                {"component": {"name": "OCPPCommCtrlr", "evse": {"id": 1}}, "variable": {"name": "HeartbeatInterval"}},
                {"component": {"name": "SampledDataCtrlr", "evse": {"id": 1}},
                 "variable": {"name": "TxUpdatedInterval"}}]})]
    for name, action, p in reqs:
        text = json.dumps([2, "id", action, p])
        n = 200

        def once2():
            q = json.loads(text)[3]
            idx, a16, p16, memo = translate201.request(st, cfg, action, q)
            return json.dumps([2, "gw-1", a16, p16])
        once2()
        a, b = timed(once2, text, n)
        rows.append(["2.0.1 -> 1.6 " + name, a // n, "us/msg", "json.loads+dumps of the same text", b // n, "us",
                     a / max(1, b)])
    return rows


def main():
    k = setup()
    rows, cfg, up, cs = heap_rows(k)
    rows += per_message(cfg)
    if "--json" in sys.argv:
        print(json.dumps(rows))
        return
    print("%-50s %9s %-8s | %-34s %9s %-6s | %7s" % ("measure", "value", "unit", "baseline (same run)", "value",
                                                    "unit", "ratio"))
    print("-" * 134)
    for r in rows:
        print("%-50s %9d %-8s | %-34s %9d %-6s | %7.2f" % tuple(r))


main()
