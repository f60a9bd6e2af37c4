# OCPP_CLIENT benchmarks, run under MicroPython (`jezgro bench` / `make bench`):
# heap held by the client at idle, during a metered transaction and allocated
# while handling the largest requests, against its 64 KB budget; the time from
# an EV's authorization request to the CSMS's Authorize answer handled (loopback
# socket, the answer fed back in-process); processing time per CALL from the CSMS
# (parse, validate, act, encode, mask and write the CALLRESULT frame to a real
# loopback TCP socket) against the bare json.loads + json.dumps of the same
# text, measured in the same process.
import sys
import os
import gc
import time
import json
import socket
import board
from jezgro.kernel import Kernel
from jezgro.service import ServiceSpec as S
from jezgro.const import PRIO_LOW

BUDGET = 64 * 1024


def now_iso(off=0):
    g = time.gmtime(int(time.time()) + off)
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % g[:6]


def run(coro):
    # The handlers never wait while the socket buffer has room: one step finishes them.
    try:
        coro.send(None)
    except StopIteration:
        return
    raise RuntimeError("handler waited")


def drain(srv):
    try:
        while srv.recv(65536):
            pass
    except OSError:
        pass


def setup():
    board.configure(False)
    for f in os.listdir(board.FS_ROOT):
        if f.startswith("ocpp_"):
            os.remove(board.FS_ROOT + "/" + f)
    table = (S(0, "KERNEL", -1, 4, 16, 0, None), S(1, "OCPP_CLIENT", PRIO_LOW, 8, 64, 5000000, "services.ocpp_client"))
    k = Kernel(table, board)
    ctx = k.services[1]
    lst = socket.socket()
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    port = 47000 + (os.urandom(1)[0] * 8)
    lst.bind(socket.getaddrinfo("127.0.0.1", port)[0][-1])
    lst.listen(1)
    c = socket.socket()
    c.connect(socket.getaddrinfo("127.0.0.1", port)[0][-1])
    srv, _ = lst.accept()
    srv.setblocking(False)
    c.setblocking(False)
    return k, ctx, c, srv, port


class FakeMeter:
    # a measurement source as power/gridmeter.GridMeter gives it: 11 kW import, counters growing
    def __init__(self):
        self.out = [0, 0, 11000, 0, 230.0, 16.0]

    def read(self):
        self.out[0] = (self.out[0] + 11000) & 0x3FFFFFFF
        return self.out


def metered_transaction(cl, srv, idle):
    # The transaction path: heap held while a metered transaction runs (Started, Updated meter values
    # through the persistent queue) and the time from the EV's authorization request (EV_ID at
    # SessionSetup, Autocharge) over a real loopback socket to the CSMS's Authorize answer handled.
    from ocpp.meter import Meter
    txm = cl.tx
    txm.meter = Meter(board.FS_ROOT, FakeMeter())
    cl.dm.set("AuthCtrlr", "AutochargeEnabled", "true", force=True)
    cl.dm.set("SampledDataCtrlr", "TxUpdatedInterval", "1", force=True)
    cl.dm.set("SampledDataCtrlr", "TxEndedInterval", "1", force=True)  # the Ended series grows too
    gc.collect()
    m0 = gc.mem_alloc()
    n = 30
    t_auth = 0
    t_json = 0
    for i in range(n):
        txm.plug(1, True)
        cl.outbox = []
        ta = time.ticks_us()
        cl.iso._ev_detected(1, "0A0B0C0D0E%02X" % i)  # -> Authorize queued
        run(cl.pump())  # the CALL on the socket
        mid = cl.pending[0]
        drain(srv)
        answer = json.dumps([3, mid, {"idTokenInfo": {"status": "Accepted"}}])
        run(cl.on_text(answer))  # the CSMS's answer: decision, Updated(Authorized)
        t_auth += time.ticks_diff(time.ticks_us(), ta)
        tb = time.ticks_us()
        json.loads(json.dumps({"idToken": {"idToken": "0A0B0C0D0E0F", "type": "MacAddress"}}))
        json.loads(answer)
        t_json += time.ticks_diff(time.ticks_us(), tb)
        txm.charging(1, True)
        for k in range(3):  # three meter readings with periodic Updated events and Ended samples
            txm.last_s -= 1.0
            txm.tx["1"]["last_upd"] -= 1.0
            txm.tx["1"]["ended_last"] = txm.tx["1"].get("ended_last", txm.tx["1"]["t0"]) - 1.0
            txm.tick(cl)
        if i == n // 2:
            gc.collect()
            during = gc.mem_alloc() - m0
        txm.session_end(1, ("StopAuthorized", "StoppedByEV"))
        txm.plug(1, False)
        while cl.txq.peek() is not None:
            cl.txq.pop()
        cl.outbox = []
    gc.collect()
    after = gc.mem_alloc() - m0
    return [["metered transaction: heap held (running)", during, "bytes", "budget", BUDGET, "bytes",
             during / BUDGET],
            ["  idle + running transaction", idle + during, "bytes", "budget", BUDGET, "bytes",
             (idle + during) / BUDGET],
            ["  held after %d transactions" % n, after, "bytes", "budget", BUDGET, "bytes", after / BUDGET],
            ["EV_ID -> Authorize on loopback -> answer handled", t_auth // n, "us", "json of both messages", t_json // n,
             "us", t_auth / max(1, t_json)]]


def local_list_rows(cl, srv):
    # The local authorization list at its capacity (64 entries): heap held, and a SendLocalList Full
    # of 64 entries handled (parse, check, persist atomically, answer on the socket).
    from ocpp import local_list
    items = [{"idToken": {"idToken": "TAG%05d" % i, "type": "ISO14443"}, "idTokenInfo": {"status": "Accepted"}}
             for i in range(local_list.MAX_ENTRIES)]
    text = json.dumps([2, "l", "SendLocalList", {"versionNumber": 1, "updateType": "Full",
                                                 "localAuthorizationList": items}])
    run(cl.on_text(json.dumps([2, "v", "GetLocalListVersion", {}])))  # module and list loaded
    drain(srv)
    n = 10
    ta = time.ticks_us()
    for _ in range(n):
        run(cl.on_text(text))
        drain(srv)
    a = time.ticks_diff(time.ticks_us(), ta)
    tb = time.ticks_us()
    for _ in range(n):
        json.dumps(json.loads(text))
    b = time.ticks_diff(time.ticks_us(), tb)
    cl.local_list = None
    gc.collect()
    m0 = gc.mem_alloc()
    local_list.of(cl)  # the list as a boot loads it from its file: what it holds while in use
    gc.collect()
    held = gc.mem_alloc() - m0
    return [["local list, 64 entries: heap held", held, "bytes", "budget", BUDGET, "bytes", held / BUDGET],
            ["CALL SendLocalList Full (64 entries, persisted)", a // n, "us/call", "json.loads+dumps of the same text",
             b // n, "us", a / max(1, b)]]


def main():
    k, ctx, c, srv, port = setup()
    gc.collect()
    c0 = gc.mem_alloc()
    from ocpp import config
    from ocpp.client import Client
    from ocpp.features import install
    from ocpp import transaction, smart_charging, reservations, iso15118_bridge  # noqa: F401 (code size)
    gc.collect()
    code = gc.mem_alloc() - c0  # bytecode in RAM; frozen into flash on the board, it costs no RAM there
    cfg = config.parse(json.dumps({"url": "ws://127.0.0.1:%d/ocpp" % port, "station_id": "BENCH",
                                   "security_profile": 0}))
    gc.collect()
    m0 = gc.mem_alloc()
    cl = Client(ctx, cfg, board.FS_ROOT, None)
    install(cl)
    cl.ws.st.sock = c  # an open WebSocket on a real loopback TCP connection (handshake not timed)
    cl.ws.open = True
    cl.registered = True
    cl.connected = True
    gc.collect()
    idle = gc.mem_alloc() - m0
    prof = {"id": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Absolute",
            "chargingSchedule": [{"id": 1, "chargingRateUnit": "W", "startSchedule": now_iso(),
                                  "chargingSchedulePeriod": [{"startPeriod": i * 900, "limit": 11000 - i * 1500}
                                                             for i in range(12)]}]}
    maxp = {"id": 2, "stackLevel": 0, "chargingProfilePurpose": "ChargingStationMaxProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": [{"id": 2, "chargingRateUnit": "W", "startSchedule": now_iso(),
                                  "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 20000},
                                                             {"startPeriod": 3600, "limit": 4000}]}]}
    run(cl.on_text(json.dumps([2, "m", "SetChargingProfile", {"evseId": 0, "chargingProfile": maxp}])))
    calls = [
        ("Heartbeat-sized GetVariables (1 item)", [2, "x", "GetVariables", {"getVariableData": [
            {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]}]),
        ("GetVariables (8 items)", [2, "x", "GetVariables", {"getVariableData": [
            {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": n}} for n in
            ("HeartbeatInterval", "MessageTimeout", "OfflineThreshold", "MessageAttempts", "MessageAttemptInterval",
             "RetryBackOffRepeatTimes", "RetryBackOffRandomRange", "RetryBackOffWaitMinimum")]}]),
        ("SetChargingProfile (12 periods, V2G)", [2, "x", "SetChargingProfile", {"evseId": 0, "chargingProfile": prof}]),
        ("GetCompositeSchedule (3 h)", [2, "x", "GetCompositeSchedule", {"duration": 10800, "evseId": 1}]),
        ("unknown action -> CALLERROR", [2, "x", "Frobnicate", {}]),
    ]
    rows = []
    peak = 0
    for name, m in calls:
        text = json.dumps(m)
        n = 60 if "Set" in name else 200
        run(cl.on_text(text))  # first use imports the operation's module: not a per-CALL cost
        drain(srv)
        gc.collect()
        before = gc.mem_alloc()
        run(cl.on_text(text))
        alloc = gc.mem_alloc() - before
        peak = max(peak, alloc)
        drain(srv)
        ta = time.ticks_us()
        for i in range(n):
            run(cl.on_text(text))
            if i % 16 == 15:
                drain(srv)
        a = time.ticks_diff(time.ticks_us(), ta)
        drain(srv)
        tb = time.ticks_us()
        for i in range(n):
            json.dumps(json.loads(text))
        b = time.ticks_diff(time.ticks_us(), tb)
        rows.append(["CALL " + name, a // n, "us/call", "json.loads+dumps of the same text", b // n, "us",
                     a / max(1, b)])
        rows.append(["  allocated per call", alloc, "bytes", "budget", BUDGET, "bytes", alloc / BUDGET])
    # The largest job: GetBaseReport -> NotifyReport messages queued.
    gbr = json.dumps([2, "r", "GetBaseReport", {"requestId": 1, "reportBase": "FullInventory"}])
    run(cl.on_text(gbr))
    cl.outbox = []
    drain(srv)
    gc.collect()
    before = gc.mem_alloc()
    run(cl.on_text(gbr))
    report = gc.mem_alloc() - before
    peak = max(peak, report)
    cl.outbox = []
    gc.collect()
    held = gc.mem_alloc() - m0
    rows.insert(0, ["OCPP modules' bytecode (RAM unless frozen)", code, "bytes", "budget", BUDGET, "bytes",
                    code / BUDGET])
    rows.insert(0, ["OCPP_CLIENT heap held at idle (connected)", idle, "bytes", "budget (spec 7.1)", BUDGET, "bytes",
                    idle / BUDGET])
    rows.insert(1, ["  allocated by one CALL, worst case", peak, "bytes", "budget", BUDGET, "bytes",
                    peak / BUDGET])
    rows.insert(2, ["  idle + worst CALL (peak bound)", idle + peak, "bytes", "budget", BUDGET, "bytes",
                    (idle + peak) / BUDGET])
    rows.insert(3, ["  held after the CALLs (profiles, state)", held, "bytes", "budget", BUDGET, "bytes",
                    held / BUDGET])
    rows.insert(4, ["  of which WebSocket receive buffer", len(cl.ws.buf), "bytes", "budget", BUDGET, "bytes",
                    len(cl.ws.buf) / BUDGET])
    rows += metered_transaction(cl, srv, idle)
    rows += local_list_rows(cl, srv)
    c.close()
    srv.close()
    if "--json" in sys.argv:
        print(json.dumps(rows))
        return
    print("%-46s %9s %-8s | %-34s %9s %-6s | %7s" % ("measure", "value", "unit", "baseline (same run)", "value",
                                                    "unit", "ratio"))
    print("-" * 130)
    for r in rows:
        print("%-46s %9d %-8s | %-34s %9d %-6s | %7.2f" % tuple(r))


main()
