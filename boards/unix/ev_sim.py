# Simulation only: an EV plugged into the gateway. At at_ms it plugs in (the pilot circuit of
# pilot_sim: CP B), waits for the 5 % PWM, matches with the SLAC service (our EV SLAC, slac/ev.py, raw
# HomePlug frames on the loopback device or the in-process wire), closes S2 (CP C), then our EVCC
# (iso15118.evcc.run_ev) with a simulated EV (EvModel) talks to the gateway's ISO15118 service over the
# loopback interface like a car on the charging cable; afterwards it opens S2 and unplugs (CP A).
# simmain adds it to the service table as EV_SIM (LOW) unless `--ev none`.
#   CFG: protocols (`jezgro ev --protocol` names), at_ms (plug-in time after boot), ev (EvModel
#   keyword arguments), iface, slac (match first), slac_iface (the PLC link: "lo" raw socket, or
#   "mem:lo" the in-process wire), mac (our MAC on the PLC link), unplug_ms (after the session),
#   repeat (sessions back to back, protocols in turn, gap_ms between them: the soak). OUT: the SLAC
#   and EVCC results for the summary; sessions: per protocol, how many ended how.
from jezgro.const import PRIO_LOW
from jezgro.service import ServiceSpec

NAME = "EV_SIM"
CFG = {"protocols": ["iso2-ac"], "at_ms": 1000, "ev": {"loops": 30, "loop_ms": 100}, "iface": "lo",
       "slac": False, "mac": "02:00:00:00:00:01", "unplug_ms": 500}
OUT: dict = {"result": None, "errors": [], "plugged_ms": None, "slac": None, "cp": None, "sessions": {}}
PWM_WAIT_MS = 3000     # the EVSE sets 5 % within this after plug-in (it debounces the pilot first)


def spec(sid):
    # the row after the configuration's table. Up to 5 restarts a minute: the EV shares the simulation's
    # heap, which the chaos soak's oom injections exhaust now and then (a board has no EV in its heap);
    # with 1 the EV was quarantined for good after two of them in a minute and the soak charged no more
    return ServiceSpec(sid, NAME, PRIO_LOW, 16, 128, 2000000, "ev_sim", "Simulated EV (EVCC)",
                       max_restarts=5, period_s=60)


def secc_config(iface, slac=False):
    # The gateway's ISO15118 provisioning for the simulation: our SECC on the same loopback.
    return {"iface": iface, "protocols": ["ISO_15118_20_DC", "ISO_15118_20_AC", "ISO_15118_2", "DIN_SPEC_70121"],
            "tls": False, "slac": slac,
            "limits": {"max_p": 22000, "ac_max_i": 32, "ac_nominal_v": 230}}


async def _wait(ctx, ms, done=None):
    t0 = ctx.ticks_ms()
    while ctx.ticks_diff(ctx.ticks_ms(), t0) < ms and (done is None or not done()):
        ctx.feed()
        await ctx.sleep_ms(10)


async def slac_match(ctx, iface, mac_text):
    # our EV SLAC on the PLC link until matched or failed: -> its status
    import board
    import plc
    from slac import ev_link
    link = board.plc_open(iface, plc.parse_mac(mac_text), None, False, None)
    try:
        return await ev_link.match(ctx, link)
    finally:
        link.close()


async def main(ctx):
    k = ctx.kernel
    if not ctx.is_restart:
        t0 = k.ticks_ms()
        while k.ticks_diff(k.ticks_ms(), t0) < CFG["at_ms"]:
            ctx.feed()
            await ctx.sleep_ms(50)
    import pilot_sim
    OUT["cp"] = pilot_sim.CP.log
    if ctx.is_restart:  # a restart mid-session: the driver takes the cable out before anything else
        pilot_sim.set_s2(False)
        pilot_sim.unplug()
        await _wait(ctx, CFG.get("gap_ms", 1000))
    while True:
        n = ctx.store.get("sessions", 0)
        ctx.store.set("sessions", n + 1)
        proto = CFG["protocols"][n % len(CFG["protocols"])]
        await _session(ctx, proto)
        if not CFG.get("repeat"):
            await _wait(ctx, 10 ** 9)   # unplugged: nothing more to do
        await _wait(ctx, CFG.get("gap_ms", 1000))


ODD_KEEP = 20  # sessions that did not complete, kept for the report (the latest)


def _count(ctx, proto, r):
    # back-to-back sessions (--ev soak): per protocol, how each ended (bounded: a few end names), and the
    # latest ones that did not complete with when and why
    st = OUT["sessions"].setdefault(proto, {})
    end = r.get("end") or "?"
    st[end] = st.get(end, 0) + 1
    if end != "SessionStop":
        odd = OUT.setdefault("odd", [])
        if len(odd) >= ODD_KEEP:
            odd.pop(0)
        odd.append([ctx.kernel.ticks_ms(), proto, end, r.get("detail") or "", r.get("messages")])


_POOL = []


def _rx_pool():
    # One receive buffer for every session of this EV (it shares the gateway's heap in the simulation:
    # an 8 KB buffer per session fragmented it, docs/reliability.md), allocated at the first session.
    if not _POOL:
        from iso15118.transport.bufpool import BufPool
        from iso15118.transport import v2gtp
        _POOL.append(BufPool(((v2gtp.HEADER_LEN + v2gtp.MAX_PAYLOAD, 1),)))
    return _POOL[0]


async def _session(ctx, proto):
    from iso15118.evcc.ev_model import EvModel
    from iso15118.evcc.session import run_ev, END_FAILED
    from iso15118.evcc.ev_sim import protocols
    import pilot_sim
    k = ctx.kernel
    pilot_sim.plug()
    OUT["plugged_ms"] = k.ticks_ms()
    if CFG.get("unplug_after_ms"):
        pilot_sim.CP.unplug_at = k.ticks_add(OUT["plugged_ms"], CFG["unplug_after_ms"])
    await _wait(ctx, PWM_WAIT_MS, lambda: pilot_sim.CP.duty == 50)
    if CFG["slac"]:
        st = await slac_match(ctx, CFG.get("slac_iface") or CFG["iface"], CFG["mac"])
        OUT["slac"] = st
        print("EV SLAC: %s in %s ms at %s dB" % (st["state"], st["match_ms"], st["atten_db"]))
        if st["state"] != "matched":
            OUT["result"] = {"end": "no SLAC match", "detail": st["fail"]}
            _count(ctx, proto, OUT["result"])
            pilot_sim.unplug()
            return
    import gc
    gc.collect()   # the SLAC run's garbage goes before the EVCC loads its grammars (1 MB sim heap)
    pilot_sim.set_s2(True)
    try:
        nss, service = protocols([proto])
        cfg = dict(CFG["ev"])
        cfg["energy_service"] = service
        r = await run_ev(ctx, CFG["iface"], EvModel.from_dict(cfg), nss, pool=_rx_pool())
        d = r.as_dict()
        OUT["result"] = {"protocol": d["protocol"], "end": d["end"], "detail": d["detail"],
                         "messages": len(d["requests"]), "duration_ms": d["duration_ms"], "ev": d["ev"],
                         "requests": d["requests"][:12] + d["requests"][-4:]}
    except (ValueError, TypeError, OSError) as e:
        if len(OUT["errors"]) < 16:
            OUT["errors"].append([type(e).__name__, str(e)])
        OUT["result"] = {"end": END_FAILED, "detail": str(e)}
    _count(ctx, proto, OUT["result"])
    print("EV " + _line(OUT["result"]))
    pilot_sim.set_s2(False)
    await _wait(ctx, CFG["unplug_ms"])
    pilot_sim.unplug()


def _line(r):
    ev = r.get("ev") or {}
    return "session %s: %s, %s messages, %.1f Wh, %s" % (
        r.get("protocol"), r.get("end"), r.get("messages"), ev.get("energy_wh", 0), r.get("detail") or "ok")
