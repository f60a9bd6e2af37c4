# How costs grow with size (`jezgro bench`, issue 17): each table gives the time per operation at
# several sizes, the ratio to the smallest size (the same-run baseline) and the fitted exponent k of
# time ~ size^k (least squares on log-log; 1.0 is linear, 0 constant). docs/performance.md says why
# each one grows as it does.
#   composite schedule: SmartCharging.limit_at (the active limit, re-evaluated every second) and
#     composite() (GetCompositeSchedule over 3 h) vs profiles (1-50) x periods (1-48 each)
#   IPC: send + receive per message vs the number of services (mailboxes), and the scheduler's pick
#   OCPP offline queue: load at boot + replay (peek/pop each, the delivery mark saved) vs 1-10 000 events,
#     and the RAM the loaded queue holds
#   audit log: append vs the size of the log already there
import gc
import json
import math
import os
import sys
import time
from benchutil import best

OUT = "build/growth_bench"
ROWS = []


def mkdir(p):
    try:
        os.mkdir(p)
    except OSError:
        pass


def rm_tree(p):
    try:
        for n in os.listdir(p):
            try:
                os.remove(p + "/" + n)
            except OSError:
                pass
    except OSError:
        pass


def exponent(xs, ys):
    lx = [math.log(x) for x in xs]
    ly = [math.log(max(y, 1e-9)) for y in ys]
    mx = sum(lx) / len(lx)
    my = sum(ly) / len(ly)
    num = sum((a - mx) * (b - my) for a, b in zip(lx, ly))
    den = sum((a - mx) ** 2 for a in lx)
    return num / den if den else 0.0


def table(title, unit, size_name, sizes, us, extra=None):
    print("%-44s %10s %14s %10s" % (title, size_name, "us/" + unit, "x smallest"))
    for i in range(len(sizes)):
        print("%-44s %10s %14.1f %10.2f%s" % ("", sizes[i], us[i], us[i] / us[0] if us[0] else 0,
                                             ("   " + extra[i]) if extra else ""))
    k = exponent(sizes, us)
    print("%-44s growth: time ~ size^%.2f" % ("", k))
    ROWS.append({"table": title, "sizes": sizes, "us": us, "exponent": k})
    return k


# --- composite schedule --------------------------------------------------------------------------
class _Cl:
    # what SmartCharging reads of the OCPP client: files, configuration, transactions, device model
    class tx:
        @staticmethod
        def active(evse):
            return None

    class dm:
        @staticmethod
        def set(*a, **k):
            pass

    def __init__(self, fs):
        self.fs = fs
        self.cfg = {}
        self.power_mgr = -1


def profiles(n, m, t0):
    from ocpp import clock
    out = []
    for i in range(n):
        periods = [{"startPeriod": 300 * j, "limit": 11000 - 100 * ((i + j) % 40)} for j in range(m)]
        out.append({"evse": 1 if i % 2 else 0, "p": {
            "id": i + 1, "stackLevel": i, "chargingProfileKind": "Absolute",
            "chargingProfilePurpose": "ChargingStationMaxProfile" if i % 3 == 0 else "TxDefaultProfile",
            "chargingSchedule": [{"id": 1, "chargingRateUnit": "W", "startSchedule": clock.iso(t0 - 60 * i),
                                  "chargingSchedulePeriod": periods}]}})
    return out


def composite_tables():
    from ocpp import smart_charging, clock
    fs = OUT + "/sc"
    mkdir(fs)
    t0 = int(clock.now())
    sizes = []
    lim_us = []
    comp_us = []
    notes = []
    notes_c = []
    ev = []
    for n, m in ((1, 1), (1, 48), (10, 12), (10, 48), (50, 12), (50, 48)):
        sc = smart_charging.SmartCharging(_Cl(fs))
        sc.profiles = profiles(n, m, t0)
        t = t0 + 1000
        calls = [0]
        plain = sc._profile_limit

        def counted(o, tt, unit):
            calls[0] += 1
            return plain(o, tt, unit)
        sc._profile_limit = counted
        sc.composite(1, t, 10800, "W")
        evals = calls[0]  # profile evaluations per GetCompositeSchedule: the count, free of timing noise
        sc._profile_limit = plain

        def lim(k):
            for i in range(k):
                sc.limit_at(1, t + i, "W")

        def comp(k):
            for _ in range(k):
                sc.composite(1, t, 10800, "W")
        lim(1)  # the timestamps parsed once, as in service
        sizes.append(n * m)
        lim_us.append(best(lim, 300))  # the same count at every size: the same share of GC work
        comp_us.append(best(comp, 5))
        notes.append("%d profiles x %d periods" % (n, m))
        notes_c.append("%d profiles x %d periods, %d profile evaluations" % (n, m, evals))
        ev.append(evals)
    table("composite: active limit (limit_at, 1/s)", "eval", "periods", sizes, lim_us, notes)
    table("composite: GetCompositeSchedule 3 h", "call", "periods", sizes, comp_us, notes_c)
    print("%-44s growth of the profile evaluations: count ~ size^%.2f" % ("", exponent(sizes, ev)))


# --- IPC vs services -------------------------------------------------------------------------------
def ipc_tables():
    from jezgro.ipc import Ipc, Msg
    import msgs
    sizes = [2, 4, 16, 64]
    us = []
    for n in sizes:
        ipc = Ipc(n, [16] * n, 512)
        for s in range(n):
            ipc.accepting[s] = 1
        msg = Msg()

        def run(k):
            send = ipc.send_i32
            take = ipc.take
            d = 1
            for i in range(k):
                send(0, d, msgs.PING, i)
                take(d, msg)
                d = d + 1 if d + 1 < n else 1
        us.append(best(run, 20000))
    table("IPC send_i32 + take, round robin", "msg", "services", sizes, us)
    # the scheduler's pick over the table (one runnable service, the others blocked on receive)
    import board
    from jezgro.kernel import Kernel
    from jezgro.service import ServiceSpec
    from jezgro.const import PRIO_MEDIUM, ST_WAITING, ST_READY, W_RECV
    us = []
    for n in sizes:
        tbl = tuple([ServiceSpec(0, "KERNEL", -1, 4, 16, 0, None, "")] +
                    [ServiceSpec(i, "S%d" % i, PRIO_MEDIUM, 4, 16, 0, None, "") for i in range(1, n)])
        k = Kernel(tbl, board)
        for s in k.services[1:]:
            s.state = ST_WAITING
            s.wait = W_RECV
            s.timed = False
        k.services[-1].state = ST_READY
        now = k.ticks_ms()

        def pick(r):
            p = k._pick
            for _ in range(r):
                p(now)
        us.append(best(pick, 5000))
    table("kernel scheduler: pick the runnable service", "pick", "services", sizes, us)


# --- OCPP offline queue --------------------------------------------------------------------------
def txqueue_table():
    from ocpp import txqueue
    fs = OUT + "/txq"
    mkdir(fs)
    # the queue streams from its file: RAM is the head record and a few numbers whatever the length (it was
    # ~730 B per event, parsed, and the 2 MB heap could not load 1000); up to the 10 000 events
    sizes = [1, 10, 100, 1000, 10000]
    us = []
    heap = []
    for n in sizes:
        rm_tree(fs)
        with open(fs + "/" + txqueue.LOG, "w") as f:
            for i in range(n):
                ev = "Started" if i % 2 == 0 else "Ended"  # essential: never dropped for the bound
                f.write(txqueue._line("TransactionEvent", {"eventType": ev, "seqNo": i, "triggerReason": "Authorized",
                                                           "transactionInfo": {"transactionId": "T%d" % (i // 2)},
                                                           "timestamp": "2026-12-07T22:00:00Z"}))
        gc.collect()
        m0 = gc.mem_alloc()
        t0 = time.ticks_us()
        q = txqueue.TxQueue(fs)
        t1 = time.ticks_us()
        gc.collect()
        heap.append("%d B in RAM after the load" % (gc.mem_alloc() - m0))
        t0 = time.ticks_add(t0, time.ticks_diff(time.ticks_us(), t1))  # the collection is not the queue's
        got = 0
        while q.peek() is not None:
            q.pop()
            got += 1
        dt = time.ticks_diff(time.ticks_us(), t0)
        assert got == n, (got, n)
        us.append(dt / n)
        q = None
    table("OCPP offline queue: load + replay", "event", "events", sizes, us, heap)


# --- audit log ------------------------------------------------------------------------------------
def audit_table():
    from jezgro import audit
    fs = OUT + "/audit"
    mkdir(fs)
    sizes = [1000, 10000, 100000, 1000000]
    us = []
    rec = {"t": 123456, "ev": "crash", "sid": 5, "gen": 2, "text": "x" * 60}
    line = audit.encode(rec)
    for size in sizes:
        rm_tree(fs)
        with open(fs + "/" + audit.ACTIVE, "w") as f:
            for _ in range(size // len(line)):
                f.write(line)
        log = audit.AuditLog(fs, 8 * 1000000)  # no rotation within the run: the file's own size counts

        def app(k):
            for _ in range(k):
                log.append(rec)
        app(1)
        us.append(best(app, 300))
    table("audit log append (budget 8 MB, no rotation)", "append", "log bytes", sizes, us)


def main(as_json):
    mkdir("build")
    mkdir(OUT)
    txqueue_table()
    composite_tables()
    ipc_tables()
    audit_table()
    if as_json:
        print(json.dumps(ROWS))


if __name__ == "__main__":  # tests_host/test_ocpp_composite.py imports _Cl and profiles
    main("--json" in sys.argv)
