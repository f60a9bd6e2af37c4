# Test service: our SECC session (iso15118.secc) behind SeccEndpoint on CFG["iface"] (TCP), one
# session per accepted EVCC, CFG["sessions"] of them. Records each SessionResult in OUT.
from iso15118.transport import netif as nif
from iso15118.transport.endpoints import SeccEndpoint
from iso15118.transport.stream import StreamTimeout, TlsConfig
from iso15118.capture import Capture
from iso15118.secc.evse_limits import EvseLimits
from iso15118.secc.session import SeccSession

CFG = {"iface": "", "sessions": 1, "accept_ms": 30000, "sequence_timeout_ms": 60000, "limits": {},
       "tcp": True, "tls": None, "pcapng": None}
OUT = {"sessions": [], "errors": [], "sdp": None, "states": []}


async def main(ctx):
    try:
        await serve(ctx)
    finally:
        ctx.kernel.stop()
    await ctx.wait_forever()  # a service's main never returns


async def serve(ctx):
    ni = nif.Netif(CFG["iface"])
    tls = TlsConfig(*[bytes.fromhex(x) if x else None for x in CFG["tls"]]) if CFG["tls"] else None
    cap = Capture(CFG["pcapng"], CFG["iface"]) if CFG["pcapng"] else None
    ep = SeccEndpoint(ni, CFG["tcp"], tls, cap)
    OUT["offers"] = ep.offers
    print("READY", ep.offers)
    try:
        for _ in range(CFG["sessions"]):
            try:
                st = await ep.accept(ctx, CFG["accept_ms"])
            except StreamTimeout as e:
                OUT["errors"].append(["StreamTimeout", str(e)])
                return
            s = SeccSession(EvseLimits(**CFG["limits"]), sequence_timeout_ms=CFG["sequence_timeout_ms"],
                            on_state=OUT["states"].append)
            r = await s.run(ctx, st)
            d = r.as_dict()
            d["cipher"] = list(st.cipher()) if st.cipher() is not None else None
            OUT["sessions"].append(d)
    finally:
        OUT["sdp"] = ep.sdp.stats()
        ep.close()
        if cap is not None:
            cap.close()
