# Test service: our SECC session (iso15118.secc) behind SeccEndpoint on CFG["iface"] (TCP), one
# session per accepted EVCC, CFG["sessions"] of them. Records each SessionResult in OUT.
from iso15118.transport import netif as nif
from iso15118.transport.endpoints import SeccEndpoint
from iso15118.transport.stream import StreamTimeout
from iso15118.secc.evse_limits import EvseLimits
from iso15118.secc.session import SeccSession

CFG = {"iface": "", "sessions": 1, "accept_ms": 30000, "sequence_timeout_ms": 60000, "limits": {}}
OUT = {"sessions": [], "errors": [], "sdp": None, "states": []}


async def main(ctx):
    try:
        await serve(ctx)
    finally:
        ctx.kernel.stop()
    await ctx.wait_forever()  # a service's main never returns


async def serve(ctx):
    ep = SeccEndpoint(nif.Netif(CFG["iface"]), True, None)
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
            OUT["sessions"].append(r.as_dict())
    finally:
        OUT["sdp"] = ep.sdp.stats()
        ep.close()
