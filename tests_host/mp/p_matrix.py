# The persistence corruption matrix, MicroPython side (tests_host/test_persist_corruption.py): every
# persisted file x every kind of damage x {at boot, while running}, many cases in one process. Each
# case builds a valid file with the firmware's own code, damages it, runs the code that reads it
# (its next boot, or the next operations of the running object), then uses it once more (a record,
# an event, a save) and reads that back. Any exception escaping the firmware code is the failure the
# test looks for; the outcome and the persist counters are reported for pytest to check.
import os
import json
from jezgro import persist
from jezgro.audit import AuditLog
from ocpp.txqueue import TxQueue
from ocpp.device_model import DeviceModel
from ocpp import config as ocpp_config
from iso15118.secc import service_config as iso_config

N_GOOD = 6  # records/events written before the damage
RNG = [12345]


def rand_bytes(n):
    out = bytearray(n)
    x = RNG[0]
    for i in range(n):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        out[i] = (x >> 16) & 0xFF
    RNG[0] = x
    return bytes(out)


def damage(path, kind):
    # kind: random, trunc:F (fraction of the length), zero, oversized, directory, unreadable
    if kind == "unreadable":
        persist.FAIL["r:" + persist.name_of(path)] = persist.EACCES
        return
    data = b""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        pass
    persist.remove(path)
    if kind == "directory":
        os.mkdir(path)
        with open(path + "/x", "w") as f:
            f.write("x")
        return
    if kind == "random":
        out = rand_bytes(300)
    elif kind.startswith("trunc:"):
        out = data[:int(len(data) * float(kind[6:]))]
    elif kind == "middle":  # garbage over the middle third: records before and after it intact
        out = data[:len(data) // 3] + b"\n" + rand_bytes(50) + b"\n" + data[2 * len(data) // 3:]
    elif kind == "zero":
        out = b""
    elif kind == "oversized":
        out = data + rand_bytes(1024) * 100  # ~100 KB: over every cap and budget
    else:
        raise ValueError(kind)
    with open(path, "wb") as f:
        f.write(out)


class Cl:
    # the part of ocpp.client.Client the state modules use
    def __init__(self, fs):
        self.fs = fs
        self.cfg = {}  # ocpp.json as loaded (smart charging reads its offline_fallback)
        self.dm = DeviceModel(fs)
        self.tx = None


def ev(i, kind="Updated"):
    return {"eventType": kind, "timestamp": "2026-01-01T00:00:00Z", "triggerReason": "MeterValuePeriodic",
            "seqNo": i, "transactionInfo": {"transactionId": "T1"}}


# --- one function per file: (fs, kind, phase) -> outcome dict -------------------------------------

def c_audit(fs, kind, phase, name):
    log = AuditLog(fs, 65536)
    for i in range(N_GOOD):
        log.append({"boot": 1, "ev": "x", "i": i})
    if phase == "running":
        damage(fs + "/" + name, kind)
        r1 = log.append({"boot": 1, "ev": "x", "i": 100})  # the running logger carries on
        persist.FAIL.clear()
        log = AuditLog(fs, 65536)
    else:
        if name == "audit.1.log":  # the older segment: rotate the good records there first
            persist.rename(fs + "/audit.log", fs + "/audit.1.log")
        damage(fs + "/" + name, kind)
        r1 = None
        log = AuditLog(fs, 65536)
    bad = log.check()
    persist.FAIL.clear()
    ok = log.append({"boot": 2, "ev": "x", "i": 200})
    ids = [r.get("i") for r in AuditLog(fs, 65536).records()]
    return {"ids": ids, "bad": bad, "appended": ok, "running_append": r1}


def c_txq(fs, kind, phase, name):
    q = TxQueue(fs)
    q.push("TransactionEvent", ev(0, "Started"))
    for i in range(1, N_GOOD):
        q.push("TransactionEvent", ev(i))
    q.pop()  # one delivered: the head file says 1
    sent = None
    if phase == "running":
        damage(fs + "/" + name, kind)
        q.push("TransactionEvent", ev(100))
        head = q.peek()  # what the client would send now (the queue streams from the damaged log)
        sent = head[1]["seqNo"] if head else None
        q.pop()
        persist.FAIL.clear()
    else:
        damage(fs + "/" + name, kind)
    q = TxQueue(fs)  # the next boot
    persist.FAIL.clear()
    q.push("TransactionEvent", ev(200, "Ended"))
    seqs = [p["seqNo"] for a, p in TxQueue(fs).records()]
    return {"seqs": seqs, "torn": q.torn, "sent": sent}


def c_dm(fs, kind, phase, name):
    dm = DeviceModel(fs)
    dm.set("OCPPCommCtrlr", "HeartbeatInterval", "77")
    if phase == "running":
        damage(fs + "/" + name, kind)
        dm.set("OCPPCommCtrlr", "HeartbeatInterval", "78")
    else:
        damage(fs + "/" + name, kind)
    dm = DeviceModel(fs)
    persist.FAIL.clear()
    loaded = dm.get("OCPPCommCtrlr", "HeartbeatInterval")
    dm.int("OCPPCommCtrlr", "HeartbeatInterval")  # must be an int, whatever the file said
    dm.set("OCPPCommCtrlr", "HeartbeatInterval", "79")
    return {"loaded": loaded, "after": DeviceModel(fs).get("OCPPCommCtrlr", "HeartbeatInterval")}


def _state(fs, name):
    from ocpp.transaction import Transactions
    from ocpp.smart_charging import SmartCharging
    from ocpp.reservations import Reservations
    cl = Cl(fs)
    if name == "ocpp_tx.json":
        t = Transactions(cl)
        return t, lambda v: (t.tx.__setitem__("1", {"id": "T%d" % v, "seq": v}), t.save()), \
            lambda: sorted(x["id"] for x in t.tx.values())
    if name == "ocpp_profiles.json":
        s = SmartCharging(cl)

        def put(v):
            s.profiles.append({"evse": 1, "p": {"id": v, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
                                                "chargingSchedule": []}})
            s.save()
        return s, put, lambda: [o["p"]["id"] for o in s.profiles]
    r = Reservations(cl)
    return r, lambda v: (r.by_evse.__setitem__(str(v), {"id": v, "until": 2000000000}), r.save()), \
        lambda: sorted(x["id"] for x in r.by_evse.values())


def c_state(fs, kind, phase, name):
    _, put, _ = _state(fs, name)
    put(1)
    damage(fs + "/" + name, kind)
    if phase == "running":
        _, put, _ = _state(fs, name)
        persist.FAIL.clear()
    _, put2, get = _state(fs, name)  # the next boot
    persist.FAIL.clear()
    loaded = get()
    put2(2)
    return {"loaded": loaded, "after": _state(fs, name)[2]()}


def c_head(fs, kind, phase, name):
    return c_txq(fs, kind, phase, name)


def c_config(fs, kind, phase, name):
    # a config is read at boot and re-read while unconfigured: both are the same load()
    if name == "ocpp.json":
        with open(fs + "/" + name, "w") as f:
            f.write(json.dumps({"url": "ws://127.0.0.1:9/o", "station_id": "S", "security_profile": 0}))
        load = ocpp_config.load
        err = ocpp_config.ConfigError
    else:
        with open(fs + "/" + name, "w") as f:
            f.write(json.dumps({"iface": "lo"}))
        load = iso_config.load
        err = iso_config.ConfigError
    load(fs)
    damage(fs + "/" + name, kind)
    try:
        load(fs)
        return {"outcome": "used"}
    except err as e:
        return {"outcome": "rejected", "error": str(e)}


def c_grid(fs, kind, phase, name):
    from services.droop_ctrl import load_config

    class Ctx:
        errors = []

        def path(self, n):
            return fs + "/" + n

        def config_failed(self, text):
            self.errors.append(text)
    with open(fs + "/grid.json", "w") as f:
        f.write(json.dumps({"sms": False}))
    damage(fs + "/grid.json", kind)
    c = Ctx()
    cfg = load_config(c)
    return {"cfg": cfg, "errors": c.errors}


def c_cert(fs, kind, phase, name):
    # certificates and keys: OCPP (ca, profile 2) and ISO 15118 (tls_cert) through their loaders
    with open(fs + "/" + name, "wb") as f:
        f.write(b"-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n")
    damage(fs + "/" + name, kind)
    out = {}
    try:
        ocpp_config.tls_context({"security_profile": 2, "ca": name}, fs)
        out["ocpp"] = "used"
    except ocpp_config.ConfigError as e:
        out["ocpp"] = str(e)
    c = iso_config.parse({"iface": "lo", "tls": True, "tls_cert": name, "tls_key": name})
    try:
        iso_config.tls_config(c, fs)
        out["iso"] = "used"
    except iso_config.ConfigError as e:
        out["iso"] = str(e)
    return out


def c_cause(fs, kind, phase, name):
    from jezgro.hwwdt import HwWatchdog
    import board
    board.FS_ROOT = fs
    w = HwWatchdog(board, 1000)
    w.persist("PLL_SYNC", "quarantined")
    damage(w.path, kind)
    return {"report": list(w.boot_report())}


FILES = {"audit.log": c_audit, "audit.1.log": c_audit, "ocpp_txq.log": c_txq, "ocpp_txq.head": c_head,
         "ocpp_dm.json": c_dm, "ocpp_tx.json": c_state, "ocpp_profiles.json": c_state,
         "ocpp_resv.json": c_state, "ocpp.json": c_config, "iso15118.json": c_config, "grid.json": c_grid,
         "csms_ca.pem": c_cert, "reset_cause.json": c_cause}
KINDS = ("random", "middle", "trunc:0.33", "trunc:0.5", "trunc:0.9", "zero", "oversized", "directory", "unreadable")


def run(root, files=None, kinds=KINDS, phases=("boot", "running")):
    out = []
    n = 0
    for name in files or FILES:
        for kind in kinds:
            for phase in phases:
                n += 1
                fs = "%s/c%d" % (root, n)
                os.mkdir(fs)
                persist.FILES.clear()
                del persist.EVENTS[:]
                persist.FAIL.clear()
                rec = {"file": name, "kind": kind, "phase": phase}
                try:
                    rec["result"] = FILES[name](fs, kind, phase, name)
                except Exception as e:  # the failure under test: it escaped the firmware code
                    rec["exception"] = "%s: %s" % (type(e).__name__, e)
                persist.FAIL.clear()
                rec["storage"] = persist.report()
                rec["events"] = [t for _, t in persist.EVENTS]
                rec["files_after"] = sorted(os.listdir(fs))
                out.append(rec)
    return out
