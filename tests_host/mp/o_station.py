# Runs OCPP_CLIENT (services.ocpp_client, as sid 1 here) in a kernel on
# wall-clock time until the host writes <fs>/stop, then reports the client's
# counters and the service summary. Extra service rows (test peers sending
# IPC) come from o_peers when asked.
import os
import board
import harness
from jezgro.service import ServiceSpec
from jezgro.const import PRIO_LOW, PRIO_MEDIUM


def _stopped():
    try:
        os.stat(board.FS_ROOT + "/stop")
        return True
    except OSError:
        return False


async def until_registered(ctx, sid=1, then_ms=0):
    # a test peer's start: wait for OCPP_CLIENT (sid) to be registered with its CSMS, then then_ms more
    ocpp = ctx.kernel.services[sid]
    while ocpp.status.obj is None or not ocpp.status.obj.registered:
        ctx.feed()
        await ctx.sleep_ms(100)
    await ctx.sleep_ms(then_ms)


def run(max_ms=60000, peers=False, reset_cause="power_on", slac=False):
    rows = [ServiceSpec(1, "OCPP_CLIENT", PRIO_LOW, 8, 64, 5000000, "services.ocpp_client",
                        max_restarts=10, period_s=60)]
    if slac:  # the control pilot (o_cp_peer as the SLAC service)
        rows.append(ServiceSpec(2, "SLAC", PRIO_MEDIUM, 4, 16, 1000000, "o_cp_peer"))
    if peers:
        rows.append(ServiceSpec(2, "ISO15118", PRIO_MEDIUM, 4, 16, 1000000, "o_iso_peer"))
        rows.append(ServiceSpec(3, "POWER_MGR", PRIO_MEDIUM, 4, 16, 1000000, "o_power_peer"))
    rows.sort(key=lambda s: s.sid)
    k = harness.kernel(rows, virtual=False, reset_cause=reset_cause)
    k.boot()
    t0 = k.ticks_ms()
    resets = 0
    while k.ticks_diff(k.ticks_ms(), t0) < max_ms and not _stopped():
        try:
            k.run(100)
        except board.SystemReset as e:  # a requested reset reboots the station, filesystem kept
            board.stop_hang_watch()
            resets += 1
            k = harness.kernel(rows, virtual=False, reset_cause=e.cause)
            k.boot()
    svc = k.services[1]
    cl = svc.status.obj
    out = {"resets": resets, "reset_report": list(k.reset_report), "svc": k.summary()["services"][1],
           "fault_text": svc.last_fault_text, "config_error": svc.status.config_error,
           "config_errors": svc.status.config_errors}
    if cl is not None:
        out["stats"] = cl.stats
        out["backoff_ms"] = cl.backoff_log
        out["registered"] = cl.registered
        out["queue"] = len(cl.txq)
        out["last_error"] = cl.last_error
        out["last_callerror"] = cl.last_callerror
        out["conn_heap"] = cl.conn_heap
        out["client"] = cl.status()
    if slac:
        import o_cp_peer
        out["cp_peer"] = o_cp_peer.log
    if peers:
        import o_iso_peer
        import o_power_peer
        out["iso_peer"] = o_iso_peer.log
        out["power_peer"] = o_power_peer.log
    return k, out
