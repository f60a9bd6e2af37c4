"""POWER_MGR: gateway state machine (spec §8.3), setpoint arbitration, safe state, restart transparency."""
from __future__ import annotations

SETUP = """
import harness, t_safe
from jezgro.service import ServiceSpec as S
from jezgro.const import *
from jezgro import shared, faults
from power import gateway_fsm as fsm
from msgs import *
import msgs
k = harness.kernel([S(1, "POWER_MGR", PRIO_HIGH, 4, 16, 50000, "services.power_mgr", max_restarts=10),
                    S(2, "DROOP_CTRL", PRIO_HIGH, 4, 16, 1000000, "t_safe")], safe_sid=1)
k.boot()
pm_svc = k.services[1]
def state():
    return fsm.STATE_NAMES[pm_svc.status.obj.state]
def to_pm(t, a, b=0, c=0, d=0):
    assert k.ipc.send_i32(0, 1, t, a, b, c, d) == 0
    k.run(30)
def lim(imp, exp, src, flags, valid=0):
    to_pm(POWER_LIMITS, imp, exp, src | flags << 8, valid)
def droop_last():
    sched = [g for g in t_safe.got if g[0] == GRID_SETPOINT]
    return sched[-1][1] if sched else None
trace = []
def note(label):
    trace.append([label, state(), droop_last()])
"""


def test_gateway_states_and_setpoint_arbitration(mp):
    r = mp(SETUP + """
k.run(30); note("boot")
shared.PLL.publish(0, 0, 0, 0, 1); k.run(30); note("locked")
lim(7000, 5000, SRC_OCPP, LIM_IMPORT | LIM_EXPORT); note("limits")
to_pm(POWER_SETPOINT, 11000, 0, SRC_ISO15118, 0); note("ev asks 11 kW")
to_pm(SESSION_STATE, SESSION_CONNECTED); note("connected")
to_pm(SESSION_STATE, SESSION_AUTHORIZED); note("authorized")
to_pm(POWER_SETPOINT, -8000, 0, SRC_ISO15118, 0); note("ev asks -8 kW")
lim(7000, 0, SRC_OCPP, LIM_IMPORT); note("export limit removed")
to_pm(GRID_UNLOCKED, 0); shared.PLL.publish(0, 0, 0, 0, 0); k.run(30); note("grid lost")
shared.PLL.publish(0, 0, 0, 0, 1); k.run(30); note("relocked")
harness.result(trace)
""")
    assert r.data == [
        ["boot", "GRID_SEARCH", 0],
        ["locked", "STANDBY", 0],
        ["limits", "STANDBY", 0],
        ["ev asks 11 kW", "STANDBY", 0],        # no session: no power
        ["connected", "V2G_SESSION", 0],
        ["authorized", "CHARGING", 7000],       # clamped by the OCPP import limit
        ["ev asks -8 kW", "DISCHARGING", -5000],  # negative = export, clamped by the export limit
        ["export limit removed", "DISCHARGING", -8000],  # absent limit is absent, not a number
        ["grid lost", "GRID_SEARCH", 0],
        ["relocked", "STANDBY", 0],
    ]


def test_quarantine_of_power_path_enters_safe_state_and_release_leaves_it(mp):
    r = mp(SETUP + """
shared.PLL.publish(0, 0, 0, 0, 1)
k.run(30)
to_pm(POWER_SETPOINT, 3000, 0, SRC_STATION, 0)
to_pm(SESSION_STATE, SESSION_AUTHORIZED); note("charging")
for i in range(6):          # crash-loop DROOP_CTRL until the kernel holds it
    k.inject(2, faults.INJ_CRASH)
    k.run(5)
k.run(30); note("droop held")
safe = [g for g in t_safe.got if g[0] == SAFE_STATE]
k.supervisor.release(k.services[2]); k.run(30); note("released")
harness.result({"trace": trace, "safe": safe, "after": [g for g in t_safe.got if g[0] == SAFE_STATE]})
""")
    d = r.data
    # Held DROOP_CTRL takes no messages: the last setpoint it got stands until it is back,
    # then it restarts with setpoint 0 (SAFE -> GRID_SEARCH: no power without a session).
    assert d["trace"] == [["charging", "CHARGING", 3000], ["droop held", "SAFE", 3000],
                          ["released", "STANDBY", 0]]
    assert d["safe"] == []  # the held service itself cannot be told: it takes no messages
    assert d["after"][-1][:2] == [0x0203, 0]  # once back, it hears that safe state is over


def test_ocpp_loss_keeps_local_control_and_limits(mp):
    r = mp(SETUP + """
shared.PLL.publish(0, 0, 0, 0, 1)
k.run(30)
lim(4000, 0, SRC_OCPP, LIM_IMPORT)
to_pm(POWER_SETPOINT, 6000, 0, SRC_OCPP, 0)
to_pm(SESSION_STATE, SESSION_AUTHORIZED); note("ocpp schedule")
to_pm(POWER_SETPOINT, 2000, 0, SRC_STATION, 0); note("station")
harness.result(trace)
""")
    assert r.data == [["ocpp schedule", "CHARGING", 4000], ["station", "CHARGING", 2000]]


def test_power_mgr_restart_is_invisible(mp):
    r = mp(SETUP + """
shared.PLL.publish(0, 0, 0, 0, 1)
k.run(30)
to_pm(POWER_SETPOINT, 5000, 0, SRC_ISO15118, 0)
to_pm(SESSION_STATE, SESSION_AUTHORIZED); note("charging")
n = len(t_safe.got)
k.inject(1, faults.INJ_CRASH)
k.run(50); note("after crash")
zeros = [g for g in t_safe.got[n:] if g[0] == GRID_SETPOINT and g[1] != 5000]
harness.result({"trace": trace, "restarts": k.services[1].restarts, "zeros": zeros})
""")
    d = r.data
    assert d["restarts"] == 1
    assert d["trace"] == [["charging", "CHARGING", 5000], ["after crash", "CHARGING", 5000]]
    assert d["zeros"] == []  # DROOP_CTRL never saw the setpoint drop during the restart


def test_setpoint_expiry(mp):
    r = mp(SETUP + """
shared.PLL.publish(0, 0, 0, 0, 1)
k.run(30)
to_pm(POWER_SETPOINT, 1000, 0, SRC_OCPP, 0)
to_pm(POWER_SETPOINT, -3000, 0, SRC_STATION, 0)
to_pm(POWER_SETPOINT, 9000, 0, SRC_ISO15118, 200)
to_pm(SESSION_STATE, SESSION_AUTHORIZED); note("ev target")
k.run(300); note("ev target expired")
to_pm(POWER_SETPOINT, 4000, 0, SRC_ISO15118, 200); note("ev speaks again")
k.run(300); note("lapsed again")
to_pm(SESSION_STATE, SESSION_CONNECTED); to_pm(SESSION_STATE, SESSION_NONE); note("session over")
to_pm(SESSION_STATE, SESSION_CONNECTED); to_pm(SESSION_STATE, SESSION_AUTHORIZED); note("next session")
harness.result(trace)
""")
    # A lapsed EV setpoint is an EV whose link went silent: no other source's setpoint (the station's
    # discharge command, the back office's) moves power through it until it speaks again or its session
    # ends; afterwards the station's command applies again.
    assert r.data == [["ev target", "CHARGING", 9000], ["ev target expired", "CHARGING", 0],
                      ["ev speaks again", "CHARGING", 4000], ["lapsed again", "CHARGING", 0],
                      ["session over", "STANDBY", 0], ["next session", "DISCHARGING", -3000]]
