# The EV simulator service: our EVCC with a simulated EV (EvModel) against a charger on a network
# interface, one session, then the kernel stops. `jezgro ev` and the link tests run it under the
# unix port; CFG is set before boot, OUT read after the run.
#   CFG: iface, protocols (`jezgro ev --protocol` names, first = highest priority), ev (EvModel
#   keyword arguments), tls (None or [cert, key, ca, server_hostname, ciphers] as bytes/str),
#   pcap (file name or None), progress (print one line per message), msg_ms ({request: ms} replacing
#   standard message timeouts).
from iso15118.evcc.ev_model import EvModel
from iso15118.evcc.session import PROTOCOL_NAMES, run_ev, END_FAILED
from iso15118.transport.netif import NetifError

CFG: dict = {"iface": "", "protocols": ["din"], "ev": {}, "tls": None, "pcap": None, "progress": False,
                   "msg_ms": {}}
OUT: dict = {"result": None, "errors": []}


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


def _progress(direction, name, code, ms):
    if direction == "sent":
        print("EV > %s" % name)
    else:
        print("EV < %s %s (%d ms)" % (name, code, ms))


async def main(ctx):
    try:
        nss, service = protocols(CFG["protocols"])
        cfg = dict(CFG["ev"])
        cfg["energy_service"] = service
        ev = EvModel.from_dict(cfg)
        tls = None
        if CFG["tls"] is not None:
            from iso15118.transport.stream import TlsConfig
            tls = TlsConfig(*CFG["tls"])
        r = await run_ev(ctx, CFG["iface"], ev, nss, tls, CFG["pcap"],
                         _progress if CFG["progress"] else None, CFG["msg_ms"])
        OUT["result"] = r.as_dict()
    except (ValueError, TypeError, NetifError) as e:
        OUT["errors"].append([type(e).__name__, str(e)])
        OUT["result"] = {"end": END_FAILED, "detail": str(e)}
    finally:
        ctx.kernel.stop()
    await ctx.wait_forever()  # a service's main never returns
