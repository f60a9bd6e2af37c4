# The gateway simulation (simmain: whole V2G table, grid plant) in wall-clock time for a real EVCC on
# a network interface, with the ISO15118 crash injected by condition instead of by time: once the
# live session has answered `after` charge-loop requests (the peer's start-up time is unknown).
# The run stops shortly after the session that was live at the crash has ended. Prints RESULT <json>.
import simmain
import harness
from jezgro import faults
from jezgro.kernel import Kernel

STATE = {"after": 5, "loop": "ChargingStatus", "crash_ms": None, "stop_ms": None, "loops_before": 0, "tail_ms": 500,
         "missed": [], "first_request_ms": None, "cap": None, "cap_sent": None}


def _check(k, now):
    cap = STATE["cap"]
    if cap is not None and STATE["cap_sent"] is None and k.ticks_diff(now, k.boot_ms) >= cap[0]:
        # cap: (ms, W[, src]) to POWER_MGR as its source sends it: by default the back office's
        # composite-schedule limit (POWER_LIMITS from OCPP_CLIENT, ocpp/smart_charging.py);
        # SRC_STATION: the station controller's command (POWER_SETPOINT from CAN_HANDLER's id)
        import msgs
        src = cap[2] if len(cap) > 2 else msgs.SRC_OCPP
        if src == msgs.SRC_STATION:
            STATE["cap_sent"] = k.ipc.send_i32(8, 4, msgs.POWER_SETPOINT, cap[1], 0, src, 0)
        else:
            STATE["cap_sent"] = k.ipc.send_i32(7, 4, msgs.POWER_LIMITS, cap[1], 0, src | msgs.LIM_IMPORT << 8, 0)
    iso = k.services[5].status.obj
    if iso is None:
        return
    m = k.critical.missed
    if not STATE["missed"] or STATE["missed"][-1][1] != m:
        STATE["missed"].append([now, m])  # when tick instants were dropped (wall clock: > 50 ms late)
    if STATE["first_request_ms"] is None and iso.sess is not None:
        STATE["first_request_ms"] = now
    if STATE["crash_ms"] is None:
        sess = iso.sess
        if sess is not None and not sess.done and type(sess.state).__name__ == STATE["loop"]:
            n = len([x for x in sess.result.requests if x == STATE["loop"] + "Req"])
            if n >= STATE["after"]:
                STATE["loops_before"] = n
                STATE["crash_ms"] = now
                k.inject(5, faults.INJ_CRASH)
    elif STATE["stop_ms"] is None and iso.history:
        STATE["stop_ms"] = now
    elif STATE["stop_ms"] is not None and k.ticks_diff(now, STATE["stop_ms"]) > STATE["tail_ms"]:
        k.stop()


class TriggerKernel(Kernel):
    def _housekeeping(self, now):
        Kernel._housekeeping(self, now)
        _check(self, now)


def run(argv, after, loop, cap=None, ev=None, tail_ms=500):
    # cap: (ms after boot, W[, src]) a setpoint to POWER_MGR; after=0: no crash; ev: EvModel arguments;
    # tail_ms: how long the run goes on after the session ended
    if ev:
        import ev_sim
        ev_sim.CFG["ev"].update(ev)
    STATE["after"] = after if after else 1 << 30
    STATE["loop"] = loop
    STATE["cap"] = cap
    STATE["tail_ms"] = tail_ms
    simmain.Kernel = TriggerKernel
    s = simmain.main(argv)
    s["trigger"] = STATE
    s["faults"] = 0  # secc_result's check: faults of the gateway are in s["services"]
    s["fault_text"] = ""
    from jezgro import shared
    import array
    pll = array.array("i", bytes(4 * shared.FIELDS))
    shared.PLL.read(pll)
    s["pll_locked_at_end"] = pll[shared.LOCKED]
    harness.result(s)
