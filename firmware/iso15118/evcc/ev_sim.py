# The EV simulator service: our EVCC with a simulated EV (EvModel) against a charger on a network
# interface, one session, then the kernel stops. `jezgro ev` and the link tests run it under the
# unix port; CFG is set before boot, OUT read after the run.
#   CFG: iface, protocols (`jezgro ev --protocol` names, first = highest priority), ev (EvModel
#   keyword arguments), tls (None or [cert, key, ca, server_hostname, ciphers] as bytes/str),
#   pcap (file name or None), progress (print one line per message), msg_ms ({request: ms} replacing
#   standard message timeouts), heap (collect after every response and record the largest live heap
#   above the level before the session in OUT["heap"]: a measurement, it costs ~1 ms per message),
#   slac (match with the charger's SLAC first on the same interface: raw HomePlug frames through
#   board.plc_open; the result in OUT["slac"], a failed match ends the run before SDP).
import gc
from iso15118.evcc.ev_model import EvModel
from iso15118.evcc.session import PROTOCOL_NAMES, run_ev, END_FAILED
from iso15118.transport.netif import NetifError

CFG: dict = {"iface": "", "protocols": ["din"], "ev": {}, "tls": None, "pcap": None, "progress": False,
                   "msg_ms": {}, "heap": False, "slac": False}
OUT: dict = {"result": None, "errors": [], "slac": None}


def protocols(names):
    # -> (namespaces by priority, energy service); every name must agree on AC/DC/BPT.
    nss = []
    service = None
    for n in names:
        p = PROTOCOL_NAMES.get(n)
        if p is None:
            raise ValueError("unknown protocol %s (one of %s)" % (n, ", ".join(PROTOCOL_NAMES)))
        if service is not None and p[1] != service:
            raise ValueError("%s wants %s, the other protocols %s" % (n, p[1], service))
        service = p[1]
        nss.append(p[0])
    return nss, service


LOOP_REQUESTS = ("CurrentDemandReq", "ChargingStatusReq", "DC_ChargeLoopReq", "AC_ChargeLoopReq")


class _Progress:
    # One line per message; charge-loop requests with the battery's state they report.
    def __init__(self, ev):
        self.ev = ev

    def __call__(self, direction, name, code, ms):
        if direction != "sent":
            print("EV < %s %s (%d ms)" % (name, code, ms))
        elif name in LOOP_REQUESTS:
            print("EV > %s (soc %.1f %%, %.1f Wh so far)" % (name, self.ev.soc, self.ev.energy_wh))
        else:
            print("EV > %s" % name)


class _HeapProbe:
    def __init__(self, then):
        gc.collect()
        self.base = gc.mem_alloc()
        self.then = then
        OUT["heap"] = 0

    def __call__(self, direction, name, code, ms):
        if direction == "received":
            gc.collect()
            live = gc.mem_alloc() - self.base
            if live > OUT["heap"]:
                OUT["heap"] = live
        if self.then is not None:
            self.then(direction, name, code, ms)


async def _slac(ctx):
    # -> None when matched (the session may start), else why not
    import board
    from slac import ev_link
    try:
        link = board.plc_open(CFG["iface"])
    except OSError as e:
        return "SLAC: %s" % e
    try:
        st = await ev_link.match(ctx, link)
    finally:
        link.close()
    OUT["slac"] = st
    if CFG["progress"]:
        print("EV SLAC: %s in %s ms at %s dB (EVSE %s)" % (st["state"], st["match_ms"], st["atten_db"], st["evse_mac"]))
    return None if st["state"] == "matched" else "SLAC: no match (%s)" % st["fail"]


async def main(ctx):
    try:
        if CFG["slac"]:
            why = await _slac(ctx)
            if why is not None:
                raise ValueError(why)
        nss, service = protocols(CFG["protocols"])
        cfg = dict(CFG["ev"])
        cfg["energy_service"] = service
        ev = EvModel.from_dict(cfg)
        tls = None
        if CFG["tls"] is not None:
            from iso15118.transport.stream import TlsConfig
            tls = TlsConfig(*CFG["tls"])
        on_message = _Progress(ev) if CFG["progress"] else None  # type: object
        if CFG["heap"]:
            on_message = _HeapProbe(on_message)
        r = await run_ev(ctx, CFG["iface"], ev, nss, tls, CFG["pcap"], on_message, CFG["msg_ms"])
        OUT["result"] = r.as_dict()
    except (ValueError, TypeError, NetifError) as e:
        OUT["errors"].append([type(e).__name__, str(e)])
        OUT["result"] = {"end": END_FAILED, "detail": str(e)}
    finally:
        ctx.end_run()
    await ctx.wait_forever()  # a service's main never returns
