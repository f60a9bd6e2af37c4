# Simulation only: an EV plugged into the gateway. Our EVCC (iso15118.evcc.run_ev) with a simulated
# EV (EvModel) talks to the gateway's own ISO15118 service over the loopback interface, like a car on
# the charging cable; simmain adds it to the service table as EV_SIM (LOW) unless `--ev none`.
#   CFG: protocols (`jezgro ev --protocol` names), at_ms (plug-in time after boot), ev (EvModel
#   keyword arguments), iface. OUT: the EVCC's result (messages, end, energy) for the summary.
from jezgro.const import PRIO_LOW
from jezgro.service import ServiceSpec

NAME = "EV_SIM"
CFG = {"protocols": ["iso2-ac"], "at_ms": 1000, "ev": {"loops": 30, "loop_ms": 100}, "iface": "lo"}
OUT: dict = {"result": None, "errors": [], "plugged_ms": None}


def spec(sid):
    # the row after the configuration's table
    return ServiceSpec(sid, NAME, PRIO_LOW, 16, 128, 2000000, "ev_sim", "Simulated EV (EVCC)",
                       max_restarts=1, period_s=60)


def secc_config(iface):
    # The gateway's ISO15118 provisioning for the simulation: our SECC on the same loopback.
    return {"iface": iface, "protocols": ["ISO_15118_20_DC", "ISO_15118_20_AC", "ISO_15118_2", "DIN_SPEC_70121"],
            "tls": False,
            "limits": {"max_p": 22000, "ac_max_i": 32, "ac_nominal_v": 230}}


async def main(ctx):
    from iso15118.evcc.ev_model import EvModel
    from iso15118.evcc.session import run_ev, END_FAILED
    from iso15118.evcc.ev_sim import protocols
    k = ctx.kernel
    t0 = k.ticks_ms()
    while k.ticks_diff(k.ticks_ms(), t0) < CFG["at_ms"]:
        ctx.feed()
        await ctx.sleep_ms(50)
    OUT["plugged_ms"] = k.ticks_ms()
    try:
        nss, service = protocols(CFG["protocols"])
        cfg = dict(CFG["ev"])
        cfg["energy_service"] = service
        r = await run_ev(ctx, CFG["iface"], EvModel.from_dict(cfg), nss)
        d = r.as_dict()
        OUT["result"] = {"protocol": d["protocol"], "end": d["end"], "detail": d["detail"],
                         "messages": len(d["requests"]), "duration_ms": d["duration_ms"], "ev": d["ev"],
                         "requests": d["requests"][:12] + d["requests"][-4:]}
    except (ValueError, TypeError, OSError) as e:
        OUT["errors"].append([type(e).__name__, str(e)])
        OUT["result"] = {"end": END_FAILED, "detail": str(e)}
    print("EV " + _line(OUT["result"]))
    while True:  # unplugged: nothing more to do
        ctx.feed()
        await ctx.sleep_ms(500)


def _line(r):
    ev = r.get("ev") or {}
    return "session %s: %s, %s messages, %.1f Wh, %s" % (
        r.get("protocol"), r.get("end"), r.get("messages"), ev.get("energy_wh", 0), r.get("detail") or "ok")
