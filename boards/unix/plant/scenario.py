# Runs one grid scenario (a JSON data file, boards/unix/scenarios/) on the
# unix port: the plant steps in board.S.tick_hook before every CRITICAL tick,
# the real PLL_SYNC / CURRENT_CTRL / DROOP_CTRL services run in the kernel,
# the SCENARIO service plays the power schedule. Writes <out>/<name>.csv and
# prints `RESULT {json}` with run facts (the host computes the metrics).
#
# Scenario keys: duration_s, grid {initial plant settings}, events [[t, {...}]],
# schedule [[t, P_W, Q_var]], rlc {p_w, qf} (parallel load tuned to 50 Hz),
# grid_code, sms, record_every, table ("grid": grid services + SCENARIO,
# "power": grid services + the real POWER_MGR).
import gc
import json
import math
import os
import sys
import time
import board
from jezgro.kernel import Kernel
from jezgro.service import ServiceSpec
if sys.maxsize > 0x7FFFFFFF:
    from plant.model import Plant, V_NOM
else:
    # The 32-bit unix port (`jezgro firmware build --target unix32`, jezgro_host.mem32): the fixed-point
    # plant's viper code needs 64-bit machine ints (its Q30 constants are not even small ints there and
    # it failed to compile at import, stopping every 32-bit simulation), so the float model it is
    # checked against steps every tick instead (~30x the cost per tick; the memory figures are the same).
    from plant.float_model import FloatPlant as Plant, V_NOM
from plant.recorder import Recorder
from plant import driver

def _here():
    f = __file__
    i = f.rfind("/")
    return f[:i] if i >= 0 else "."


SCENARIO_DIR = os.getenv("JEZGRO_SCENARIOS") or _here() + "/../scenarios"


def load(name):
    path = name if name.endswith(".json") else SCENARIO_DIR + "/" + name + ".json"
    with open(path) as f:
        return json.loads(f.read())


def rlc_for(p_w, qf, dp_pct=0.0, dq_pct=0.0, f=50.0, v_peak=V_NOM):
    # Parallel RLC per phase (star) for an inverter delivering p_w: Q_L = qf * p_w,
    # resonant at f when balanced; IEC 62116 imbalance: load P = p_w (1 + dp),
    # Q_L - Q_C = dq * p_w (positive: net inductive load).
    w = 2 * math.pi * f
    k = 1.5 * v_peak * v_peak
    r = k / (p_w * (1 + dp_pct / 100))
    ql = qf * p_w
    qc = ql - dq_pct / 100 * p_w
    return r, k / (w * ql), qc / (k * w)


def build_plant(sc):
    # the plant a scenario describes: initial grid, RLC load, scripted events
    p = Plant()
    for k, v in sc.get("grid", {}).items():
        p._apply({k: v})
    if "rlc" in sc:
        r = sc["rlc"]
        p.set_load(*rlc_for(r["p_w"], r.get("qf", 1.0), r.get("dp_pct", 0.0), r.get("dq_pct", 0.0)))
    p.schedule([list(e) for e in sc.get("events", [])])
    return p


PLANT = None  # the plant install() put behind the simulation (its truth goes into the summary)


def install(name):
    # `simmain.py --scenario NAME`: the plant steps before every CRITICAL tick of
    # whatever the simulation boots (the full gateway with the real POWER_MGR).
    global PLANT
    p = build_plant(load(name))
    board.S.tick_hook = p.step
    PLANT = p
    return p


def table(kind):
    import config.v2g as v2g
    names = ("KERNEL", "PLL_SYNC", "CURRENT_CTRL", "DROOP_CTRL")
    if kind == "power":  # the power path with the real POWER_MGR
        names = names + ("POWER_MGR",)
    rows = [s for s in v2g.TABLE if s.name in names]
    if kind == "grid":
        rows.append(ServiceSpec(len(rows), "SCENARIO", 1, 4, 16, 0, "plant.driver", "scenario power schedule"))
    # sids must be dense: renumber the copied rows in order
    out = []
    for i, s in enumerate(rows):
        out.append(ServiceSpec(i, s.name, s.priority, s.stack_kb, s.memory_kb, s.watchdog_us, s.module,
                               s.purpose, s.policy, s.max_restarts, s.period_s, s.mailbox, s.tick_slot))
    return tuple(out), (v2g if kind == "power" else None)


def run(name, out_dir="sim_out", fs=None):
    sc = load(name)
    base = name.split("/")[-1].replace(".json", "")
    seconds = sc.get("duration_s", 1.0)
    p = build_plant(sc)
    driver.SCHEDULE = [list(e) for e in sc.get("schedule", [])]
    fs = fs or board.FS_ROOT
    board.FS_ROOT = fs
    for d in (out_dir, fs):
        try:
            os.mkdir(d)
        except OSError:
            pass
    with open(fs + "/grid.json", "w") as f:
        f.write(json.dumps({"grid_code": sc.get("grid_code", "ENTSO-E"), "sms": sc.get("sms", True)}))
    board.configure(True)
    tbl, cfg = table(sc.get("table", "grid"))
    kernel = Kernel(tbl, board, audit_sid=-1, safe_state_sid=cfg.SAFE_STATE_OWNER if cfg else -1)
    droop_svc = [s for s in kernel.services if s.name == "DROOP_CTRL"][0]

    def targets():
        d = droop_svc.status.obj
        return (d.p_target, d.q_target) if d is not None else (0.0, 0.0)

    rec = Recorder(p, seconds, sc.get("record_every", 2), targets)
    step = p.step
    record = rec.record

    def hook():
        step()
        record()

    board.S.tick_hook = hook
    history = []
    pm_svc = [s for s in kernel.services if s.name == "POWER_MGR"]
    if pm_svc:
        from power.gateway_fsm import STATE_NAMES

        def watch(k, now):
            pm = pm_svc[0].status.obj
            if pm is not None and (not history or history[-1] != STATE_NAMES[pm.state]):
                history.append(STATE_NAMES[pm.state])

        kernel.on_housekeeping = watch
    # Collect now, not in the middle of the run.
    gc.collect()
    kernel.boot()
    # The hang watchdog thread measures real time; on a loaded host (CI, other
    # jobs) a descheduled process looks like a hung service and gets broken.
    # Grid scenarios test control, not hang detection (tests_host/test_host_sim.py
    # does that), so they run without it; board.stop_hang_watch ends the thread.
    board.stop_hang_watch()
    t0 = time.ticks_ms()
    kernel.run(int(seconds * 1000))
    wall = time.ticks_diff(time.ticks_ms(), t0) / 1000
    board.S.tick_hook = None
    board.stop_hang_watch()
    try:
        os.mkdir(out_dir)
    except OSError:
        pass
    csv = out_dir + "/" + base + ".csv"
    rec.write_csv(csv)
    d = droop_svc.status.obj
    res = {"scenario": base, "csv": csv, "sim_s": seconds, "wall_s": wall,
           "speed": seconds / wall if wall > 0 else 0, "ticks": kernel.critical.ticks,
           "max_tick_us": kernel.critical.max_cost_us, "trip_cause": d.trip_cause if d else 0,
           "services": [[s.name, s.state, s.restarts, s.last_fault_text] for s in kernel.services[1:]],
           "pll_events": _lock_messages(kernel),
           "spec": sc.get("spec", {})}
    res["gateway_history"] = history
    if pm_svc and pm_svc[0].status.obj is not None:
        res["emergencies"] = pm_svc[0].status.obj.emergencies
    return res


def _lock_messages(kernel):
    # PLL_SYNC's lock messages to POWER_MGR (its published LockReport)
    rep = [s for s in kernel.services if s.name == "PLL_SYNC"][0].status.obj
    return rep.events if rep is not None else 0


if __name__ == "__main__":
    args = sys.argv[1:]
    out = "sim_out"
    if "--out" in args:
        i = args.index("--out")
        out = args[i + 1]
        del args[i:i + 2]
    for n in args:
        print("RESULT " + json.dumps(run(n, out)))
