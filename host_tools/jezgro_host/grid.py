"""`jezgro grid-test SCENARIO|--all`: grid scenarios on the unix port, metrics against the spec.

Each scenario (boards/unix/scenarios/NAME.json) runs the real PLL_SYNC, CURRENT_CTRL and
DROOP_CTRL services under unix MicroPython with the plant stepped before every 10 kHz tick
(boards/unix/plant/scenario.py). The run writes OUT/NAME.csv; this module computes the
metrics from it (numpy), plots OUT/NAME.png (matplotlib) and checks them against the
numbers in the scenario's "spec" block (taken from the spec, §3.3, §4.3, §5, §9.3).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from . import mp
from .errors import ToolError, UserError, choices, firmware_message
from .mp import ROOT

SCENARIOS = ROOT / "boards" / "unix" / "scenarios"
# Scenarios `make test` runs (short); --all adds the rest (longer, sweeps).
QUICK = ["clean_rated", "freq_step_clean", "freq_step_distorted", "phase_jumps", "lvrt_000",
         "droop_vde", "island_100"]


def names() -> list[str]:
    return sorted(p.stem for p in SCENARIOS.glob("*.json"))


def island_sweep(out: Path) -> list[str]:
    """IEC 62116 imbalance grid for --all: RLC (Qf = 1) at 100/66/33 % power with the load's
    P and Q off by -5/0/+5 % of the inverter's output. Written as scenario files under out/."""
    gen = out / "generated"
    gen.mkdir(parents=True, exist_ok=True)
    paths = []
    for pct in (100, 66, 33):
        p = 11000 * pct // 100
        for dp in (-5, 0, 5):
            for dq in (-5, 0, 5):
                name = f"island_{pct}_dp{dp:+d}_dq{dq:+d}"
                sc = {"description": f"IEC 62116 imbalance: {pct} % power, load P {dp:+d} %, Q {dq:+d} %",
                      "duration_s": 2.8, "record_every": 10, "schedule": [[0.0, -p, 0]],
                      "rlc": {"p_w": p, "qf": 1.0, "dp_pct": dp, "dq_pct": dq},
                      "events": [[0.5, {"island": True}]],
                      "spec": {"island_t": 0.5, "trip_s_max": 2.0}}
                path = gen / f"{name}.json"
                path.write_text(json.dumps(sc, indent=1) + "\n")
                paths.append(str(path))
    return paths


def _description(name_or_path: str) -> str:
    p = Path(name_or_path) if name_or_path.endswith(".json") else SCENARIOS / f"{name_or_path}.json"
    return json.loads(p.read_text()).get("description", "")


def run(names_: list[str], out: Path, timeout: float = 900, progress=None) -> list[dict]:
    """Run scenarios under MicroPython; returns the RESULT dicts (one per scenario). progress(i, n, result)
    is called as each scenario finishes (the firmware prints one RESULT line per scenario)."""
    import subprocess
    import time
    out.mkdir(parents=True, exist_ok=True)
    proc = mp.start([str(ROOT / "boards" / "unix" / "plant" / "scenario.py"), "--out", str(out)] + names_,
                    heap="8M", fs_root=str(out / "fs"), extra_env={"JEZGRO_SCENARIOS": str(SCENARIOS)},
                    cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    results: list[dict] = []
    other: list[str] = []
    end = time.monotonic() + timeout
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("RESULT "):
            results.append(json.loads(line[7:]))
            if progress is not None:
                progress(len(results), len(names_), results[-1])
        else:
            other = (other + [line])[-40:]
        if time.monotonic() > end:
            proc.kill()
            raise ToolError(f"the scenario run took longer than {timeout:.0f} s")
    err = proc.stderr.read() if proc.stderr else ""
    rc = proc.wait()
    if rc != 0:
        raise ToolError(f"the scenario run stopped (MicroPython exit {rc}): "
                        f"{firmware_message(''.join(other) + err) or 'no output'}")
    return results


def load_csv(path: str | Path) -> dict[str, np.ndarray]:
    data = np.genfromtxt(path, delimiter=",", names=True)
    return {k: np.asarray(data[k]) for k in data.dtype.names}


def _win(d: dict, w) -> np.ndarray:
    return (d["t"] >= w[0]) & (d["t"] < w[1])


def settle_time(d: dict, t0: float, cond: np.ndarray) -> float:
    """Seconds after t0 until cond (bad) is False for good; inf if never."""
    after = d["t"] >= t0
    bad = np.nonzero(after & cond)[0]
    if len(bad) == 0:
        return 0.0
    if bad[-1] == len(d["t"]) - 1:
        return float("inf")
    return float(d["t"][bad[-1] + 1] - t0)


def thd(t: np.ndarray, x: np.ndarray, f0: float = 50.0, nh: int = 40) -> float:
    """THD (%) up to the nh-th harmonic over the whole cycles in x (uniform samples)."""
    dt = float(np.median(np.diff(t)))
    per = 1.0 / f0
    n = int(round(int((t[-1] - t[0] + dt) / per) * per / dt))
    x = x[-n:] - np.mean(x[-n:])
    spec = np.abs(np.fft.rfft(x)) / n * 2
    cycles = int(round(n * dt * f0))
    h1 = spec[cycles]
    hs = [spec[cycles * k] for k in range(2, nh + 1) if cycles * k < len(spec)]
    return float(100 * np.sqrt(np.sum(np.square(hs))) / h1)


def metrics(d: dict, spec: dict, res: dict | None = None) -> list[tuple[str, float, str, bool]]:
    """Rows of (metric, measured, limit text, pass) for one scenario's CSV and spec block."""
    rows: list[tuple[str, float, str, bool]] = []
    t = d["t"]
    locked = d["locked"] > 0.5
    err = np.abs(d["theta_err_deg"])
    ferr = np.abs(d["f_est"] - d["f_true"])
    if res is not None:
        restarts = sum(s[2] for s in res.get("services", []))
        rows.append(("service restarts during the run", float(restarts), "= 0", restarts == 0))
    if "lock_ms_max" in spec:
        i = np.argmax(locked)
        v = float(t[i] * 1000) if locked.any() else float("inf")
        rows.append(("lock time ms", v, f"< {spec['lock_ms_max']}", v < spec["lock_ms_max"]))
    if "ss_window" in spec:
        w = _win(d, spec["ss_window"])
        v = float(err[w].max())
        rows.append(("steady-state phase error deg", v, f"< {spec['phase_err_deg_max']}", v < spec["phase_err_deg_max"]))
        v = float(ferr[w].max())
        rows.append(("steady-state frequency error Hz", v, f"< {spec['freq_err_hz_max']}", v < spec["freq_err_hz_max"]))
    if "step_t" in spec:
        t0 = spec["step_t"]
        band = abs(spec["step_hz"]) * 0.05
        ts_ph = settle_time(d, t0, err >= 1.0)
        ts_f = settle_time(d, t0, ferr >= band)
        ts_f2 = settle_time(d, t0, ferr >= abs(spec["step_hz"]) * 0.02)
        lim = spec["settle_ms_max"]
        rows.append(("settling ms (phase < 1 deg)", ts_ph * 1000, f"< {lim}", ts_ph * 1000 < lim))
        rows.append(("settling ms (f within 5 % of step)", ts_f * 1000, f"< {lim}", ts_f * 1000 < lim))
        rows.append(("settling ms (f within 2 % of step)", ts_f2 * 1000, "reported", True))
        after = t >= t0
        rows.append(("peak phase error after step deg", float(err[after].max()), "reported", True))
    if "jumps" in spec:
        for tj, deg in spec["jumps"]:
            ts = settle_time(d, tj, (err >= 1.0) & (t < tj + 0.25))
            rows.append((f"{deg} deg jump: to < 1 deg ms", ts * 1000, "< 100 (lock kept)", ts < 0.1))
    if "stay_locked_after" in spec:
        w = t >= spec["stay_locked_after"]
        ok = bool(locked[w].all())
        rows.append(("lock held throughout", float(ok), "= 1", ok))
    if "ramp_window" in spec:
        w = _win(d, spec["ramp_window"])
        v = float(err[w].max())
        rows.append(("phase error during 2 Hz/s ramp deg", v, f"< {spec['phase_err_deg_max']}", v < spec["phase_err_deg_max"]))
        v = float(ferr[w].max())
        rows.append(("f error during ramp Hz", v, f"< {spec['ramp_freq_err_hz_max']}", v < spec["ramp_freq_err_hz_max"]))
    if "sag" in spec:
        a, b = spec["sag"]
        if "sag_phase_err_deg_max" in spec:
            v = float(err[_win(d, (a + 0.03, b))].max())
            rows.append(("phase error during sag deg", v, f"< {spec['sag_phase_err_deg_max']}", v < spec["sag_phase_err_deg_max"]))
        ts = settle_time(d, b, (err >= 1.0) & (t < b + 0.3))
        lim = spec.get("recover_ms_max", 50)
        rows.append(("recovery to < 1 deg after sag ms", ts * 1000, f"< {lim}", ts * 1000 < lim))
    if spec.get("no_trip"):
        ok = bool((d["trip"] < 0.5).all())
        rows.append(("no protection trip", float(ok), "= 1", ok))
        w = t >= 0.2
        ok = bool((d["enable"][w] > 0.5).all())
        rows.append(("inverter kept running", float(ok), "= 1", ok))
    if "thd_window" in spec:
        w = _win(d, spec["thd_window"])
        v = thd(t[w], d["ia"][w])
        lim = spec.get("thd_pct_max")
        rows.append(("grid current THD %", v, f"< {lim}" if lim else "reported", v < lim if lim else True))
    if "neg_seq_window" in spec:
        w = _win(d, spec["neg_seq_window"])
        z = d["id"][w] + 1j * d["iq"][w]
        tt = t[w]
        # a negative-sequence current appears in dq as a vector turning at -2 omega
        neg = abs(np.mean(z * np.exp(2j * 2 * np.pi * 50 * tt)))
        irated = 11000 / (1.5 * 325.27)
        v = 100 * neg / irated
        lim = spec.get("neg_seq_pct_max")
        rows.append(("negative-sequence current % rated", v, f"< {lim} (design)" if lim else "reported",
                     v < lim if lim else True))
    if "qv_step_t" in spec:
        v1, v2, v3, v4, qmax = spec["qv_curve"]
        v = spec["qv_v"]
        qm = qmax / 100 * 11000
        q_exp = qm if v <= v1 else (qm * (v2 - v) / (v2 - v1) if v < v2 else 0.0)
        t0 = spec["qv_step_t"]
        tol = abs(q_exp) * spec["tol_pct"] / 100
        ts = settle_time(d, t0, np.abs(d["q"] - q_exp) > tol)
        rows.append(("Q(V) expected injection var", q_exp, "curve", True))
        rows.append(("Q(V) settling s (within 10 %)", ts, f"< {spec['qv_settle_s']}", ts < spec["qv_settle_s"]))
    if "ramp_t" in spec:
        w = _win(d, spec["ramp_t"])
        slope = float(np.polyfit(t[w], -d["p"][w], 1)[0])  # W/s, import positive
        lim = spec["ramp_pct_s"] / 100 * 11000
        rows.append(("scheduled-power ramp W/s", abs(slope), f"<= {lim:.0f} (and > 0.8x)",
                     0.8 * lim <= abs(slope) <= lim * 1.02))
    if "droop_step_t" in spec:
        t0 = spec["droop_step_t"]
        f = spec["droop_f"]
        s = spec["droop_pct"] / 100
        db = spec["db_hz"]
        df = (f - 50 - db) if f > 50 + db else ((f - 50 + db) if f < 50 - db else 0.0)
        dp = df / (50 * s) * 11000
        p_exp = spec["p_sched"] + dp  # import positive
        p_imp = -d["p"]
        tr = spec["response_s"]
        tol = abs(dp) * spec["tol_pct"] / 100
        ts = settle_time(d, t0, np.abs(p_imp - p_exp) > tol)
        rows.append(("P(f) expected change W", dp, "droop", True))
        rows.append(("P(f) response s (within 10 %)", ts, f"< {tr}", ts < tr))
        w = t > t0 + tr
        v = float(np.mean(p_imp[w]))
        rows.append(("P after response W", v, f"{p_exp:.0f} +- {tol:.0f}", abs(v - p_exp) <= tol))
    if "trip_s_max" in spec:
        t0 = spec["island_t"]
        tripped = (d["trip"] > 0.5) & (t >= t0)
        v = float(t[np.argmax(tripped)] - t0) if tripped.any() else float("inf")
        lim = spec["trip_s_max"]
        rows.append(("islanding run-on s", v, f"< {lim}", v < lim))
        if "balance_window" in spec:
            w = _win(d, spec["balance_window"])
            ig = float(np.mean(d["i_grid"][w]))
            irated = 11000 / (1.5 * 325.27)
            pct = 100 * ig / irated
            rows.append(("grid current before islanding % rated", pct,
                         f"<= {spec['grid_current_pct_max']} (load tuned)", pct <= spec["grid_current_pct_max"]))
    if "unlock_after_s" in spec:
        t0, lo, hi = spec["unlock_after_s"]
        w = t >= t0
        unl = w & ~locked
        v = float(t[np.argmax(unl)] - t0) if unl.any() else float("inf")
        rows.append(("unlock after loss of voltage s", v, f"{lo} .. {hi}", lo <= v <= hi))
        tr, within = spec["relock_after"]
        w = t >= tr
        rel = w & locked
        v = float(t[np.argmax(rel)] - tr) if rel.any() else float("inf")
        rows.append(("relock after return s", v, f"< {within}", v < within))
        n = res.get("pll_events", 0) if res else 0
        rows.append(("lock messages to POWER_MGR", float(n), f">= {spec['pll_events_min']}", n >= spec["pll_events_min"]))
        hist = res.get("gateway_history", []) if res else []
        ok = "STANDBY" in hist and "GRID_SEARCH" in hist[hist.index("STANDBY"):] if "STANDBY" in hist else False
        rows.append(("POWER_MGR: STANDBY -> GRID_SEARCH on unlock", float(ok), " -> ".join(hist)[:22], ok))
    if "emergencies_min" in spec:
        n = res.get("emergencies", 0) if res else 0
        rows.append(("MSG_GRID_EMERGENCY received by POWER_MGR", float(n), f">= {spec['emergencies_min']}",
                     n >= spec["emergencies_min"]))
        tr = bool((d["trip"] > 0.5).any())
        rows.append(("protection tripped (over-frequency)", float(tr), "= 1", tr))
    if "run_on_s_min" in spec:
        t0 = spec["island_t"]
        tripped = (d["trip"] > 0.5) & (t >= t0)
        v = float(t[np.argmax(tripped)] - t0) if tripped.any() else float(t[-1] - t0)
        lim = spec["run_on_s_min"]
        rows.append(("run-on without active method s", v, f">= {lim} (not detected)", v >= lim))
    return rows


def plot(d: dict, title: str, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    t = d["t"]
    fig, ax = plt.subplots(4, 1, figsize=(10, 11), sharex=True)
    ax[0].plot(t, d["theta_err_deg"], lw=0.7)
    ax[0].axhspan(-1, 1, color="g", alpha=0.15, label="+-1 deg")
    ax[0].set_ylabel("theta error (deg)")
    ax[0].set_ylim(-10, 10)
    ax[0].legend(loc="upper right")
    ax[1].plot(t, d["f_true"], "k--", lw=0.8, label="grid")
    ax[1].plot(t, d["f_est"], lw=0.8, label="PLL estimate")
    ax[1].fill_between(t, d["f_true"] - 0.05, d["f_true"] + 0.05, color="g", alpha=0.15, label="+-0.05 Hz")
    ax[1].set_ylabel("f (Hz)")
    ax[1].legend(loc="upper right")
    ax[2].plot(t, d["vd"], lw=0.8, label="Vd")
    ax[2].plot(t, d["vq"], lw=0.8, label="Vq")
    ax2 = ax[2].twinx()
    ax2.plot(t, d["locked"], "r", lw=0.8, label="locked")
    ax2.set_ylim(-0.1, 1.5)
    ax[2].set_ylabel("V (V)")
    ax[2].legend(loc="upper left")
    ax2.legend(loc="upper right")
    ax[3].plot(t, d["id_ref"], "--", lw=0.8, label="id ref")
    ax[3].plot(t, d["id"], lw=0.8, label="id")
    ax[3].plot(t, d["iq_ref"], "--", lw=0.8, label="iq ref")
    ax[3].plot(t, d["iq"], lw=0.8, label="iq")
    ax[3].set_ylabel("current (A)")
    ax[3].legend(loc="upper right")
    ax3 = ax[3].twinx()
    ax3.plot(t, -d["p"] / 1000, "k", lw=0.6, label="P import (kW)")
    ax3.plot(t, d["p_target"] / 1000, "k:", lw=0.8, label="P droop target (kW)")
    ax3.plot(t, d["q"] / 1000, "m", lw=0.6, label="Q (kvar)")
    ax3.plot(t, d["q_target"] / 1000, "m:", lw=0.8, label="Q target (kvar)")
    ax3.legend(loc="lower right", fontsize=7)
    ax[3].set_xlabel("t (s)")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _progress(i: int, n: int, r: dict) -> None:
    # live progress of a long --all run: one line per finished scenario, on stderr (stdout is the table)
    print(f"[{i}/{n}] {r.get('scenario', '?')} simulated ({r.get('speed', 0):.2g}x real time)", file=sys.stderr,
          flush=True)


def evaluate(names_: list[str], out: Path, plots: bool = True, progress: bool = False) -> list[dict]:
    results = run(names_, out, progress=_progress if progress else None)
    for name, r in zip(names_, results):
        d = load_csv(r["csv"])
        r["rows"] = metrics(d, r["spec"], r)
        r["passed"] = all(ok for _, _, _, ok in r["rows"])
        if plots:
            plot(d, f"{r['scenario']}: {_description(name)}"[:110], out / f"{r['scenario']}.png")
    return results


def print_table(results: list[dict]) -> None:
    print(f"{'scenario':26} {'metric':42} {'measured':>12}  {'spec':22} result")
    for r in results:
        for name, v, lim, ok in r["rows"]:
            print(f"{r['scenario']:26} {name:42} {v:12.4g}  {lim:22} {'PASS' if ok else 'FAIL'}")
        print(f"{r['scenario']:26} {'(simulation speed, sim s / wall s)':42} {r['speed']:12.3g}")


def add_parser(sub) -> None:
    s = sub.add_parser("grid-test", help="run grid scenarios (plant + PLL/current/droop) and check the spec numbers")
    s.add_argument("scenario", nargs="?", help="scenario name (boards/unix/scenarios/NAME.json)")
    s.add_argument("--all", action="store_true", help="run every scenario and print the pass/fail table")
    s.add_argument("--out", default="sim_out/grid", help="output directory for CSV and PNG")
    s.add_argument("--no-plots", action="store_true")
    s.add_argument("--list", action="store_true", help="list the scenarios")
    s.set_defaults(func=main)


def main(a) -> int:
    if a.list:
        for n in names():
            print(n)
        return 0
    out = Path(a.out)
    sel = (names() + island_sweep(out)) if a.all else ([a.scenario] if a.scenario else [])
    if not sel:
        raise UserError("give a SCENARIO or --all (one of: " + ", ".join(names()) + ")")
    for name in sel:
        if not (name in names() or (name.endswith(".json") and Path(name).is_file())):
            raise choices("scenario", name, names())
    results = evaluate(sel, out, plots=not a.no_plots, progress=len(sel) > 1)
    print_table(results)
    print(f"CSV and PNG in {out}/")
    return 0 if all(r["passed"] for r in results) else 1
