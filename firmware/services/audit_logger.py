# AUDIT_LOGGER (LOW): turns kernel events (AUDIT_EVENT) into records in
# the append-only audit log. Runs at the lowest priority on purpose: events
# wait in its mailbox (which survives its restarts) rather than delaying
# anything that matters more.
import msgs
from jezgro.const import EVENT_NAMES, FAULT_NAMES
from jezgro.audit import AuditLog
from jezgro import persist

BUDGET_BYTES = 65536
IDLE_MS = 500  # wake at least this often to feed the 2 s watchdog


def _record(ctx, boot, msg):
    w0 = msg.i32(msgs.AUDIT_CODE)
    ev = w0 & 0xFF
    sid = (w0 >> 8) & 0xFF
    cause = (w0 >> 16) & 0xFF
    seq = msg.i32(msgs.AUDIT_TEXT)
    rec = {"boot": boot, "t_ms": msg.i32(msgs.AUDIT_T_MS) & 0x3FFFFFFF,
           "ev": EVENT_NAMES[ev] if ev < len(EVENT_NAMES) else ev,
           "svc": ctx.name_of(sid) or sid,
           "gen": msg.i32(msgs.AUDIT_GEN)}
    if cause:
        rec["cause"] = FAULT_NAMES[cause] if cause < len(FAULT_NAMES) else cause
    if seq:
        rec["text"] = ctx.audit_text(seq)
    return rec


def _storage_records(ctx, log, boot):
    # Storage problems any service met (jezgro.persist), as records: after its own append failed
    # the logger stops for this wake, so a full filesystem cannot keep it busy writing about itself.
    ev = persist.take_event()
    while ev is not None:
        if not log.append({"boot": boot, "t_ms": ctx.ticks_ms() & 0x3FFFFFFF, "ev": "storage",
                           "svc": "", "file": ev[0], "text": "%s: %s" % ev}):
            return
        ev = persist.take_event()


def _bridge_records(ctx, log, boot):
    # the protocol bridge's events (link, rejections: bridge/handoff.py), in the bridge configuration only
    from bridge.handoff import BUS
    while BUS.audit:
        svc, charger, text = BUS.audit[0]
        if not log.append({"boot": boot, "t_ms": ctx.ticks_ms() & 0x3FFFFFFF, "ev": "bridge", "svc": svc,
                           "charger": charger, "text": text}):
            return
        BUS.audit.pop(0)


async def main(ctx):
    log = AuditLog(ctx.fs_root, BUDGET_BYTES)
    ctx.publish(log)
    log.kernel_events = ctx.store.get("kernel_events", 0)
    boot = ctx.store.get("boot")
    if boot is None:
        log.check()  # once per boot: salvage damaged segments before anything is appended
        last = log.last()
        prev = last.get("boot", 0) if last else 0
        boot = (prev + 1) if isinstance(prev, int) and prev >= 0 else 1
        ctx.store.set("boot", boot)
    bridge = ctx.sid_of("TRANSLATOR") >= 0
    while True:
        ctx.feed()
        _storage_records(ctx, log, boot)
        if bridge:
            _bridge_records(ctx, log, boot)
        msg = await ctx.receive(IDLE_MS)
        if msg is None or msg.type != msgs.AUDIT_EVENT:
            continue
        if log.append(_record(ctx, boot, msg)):
            log.kernel_events += 1
            ctx.store.set("kernel_events", log.kernel_events)
