# Test service: our SECC session (iso15118.secc) behind SeccEndpoint on CFG["iface"] (TCP and/or TLS),
# one session per accepted EVCC, CFG["sessions"] of them. Records each SessionResult in OUT. The -20
# offer comes from CFG["evse20"] (iso15118.secc.iso20.Evse20 arguments); standing in for POWER_MGR in
# the Dynamic mode, after CFG["discharge_after"] charge-loop requests it sets the setpoint to
# CFG["discharge_w"] (negative: discharge).
from iso15118.transport import netif as nif
from iso15118.transport.endpoints import SeccEndpoint
from iso15118.transport.stream import StreamTimeout, TlsConfig
from iso15118.capture import Capture
from iso15118.secc.evse_limits import EvseLimits
from iso15118.secc.iso20 import Evse20, LOOP_REQUESTS
from iso15118.secc.session import SeccSession

CFG = {"iface": "", "sessions": 1, "accept_ms": 30000, "sequence_timeout_ms": 60000, "limits": {},
       "tcp": True, "tls": None, "pcapng": None, "evse20": {}, "discharge_after": None, "discharge_w": -5000}
OUT = {"sessions": [], "errors": [], "sdp": None, "setpoints": []}


async def main(ctx):
    try:
        await serve(ctx)
    finally:
        ctx.kernel.stop()
    await ctx.wait_forever()  # a service's main never returns


class PowerManager:
    # on_state hook: counts -20 charge-loop requests and moves the Dynamic setpoint like POWER_MGR would
    def __init__(self, evse):
        self.evse = evse
        self.loops = 0

    def __call__(self, name):
        if name in LOOP_REQUESTS:
            self.loops += 1
            if CFG["discharge_after"] is not None and self.loops == CFG["discharge_after"]:
                self.evse.setpoint_w = CFG["discharge_w"]
                OUT["setpoints"].append([self.loops, CFG["discharge_w"]])


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
            evse = Evse20(**CFG["evse20"])
            s = SeccSession(EvseLimits(**CFG["limits"]), sequence_timeout_ms=CFG["sequence_timeout_ms"],
                            on_state=PowerManager(evse), evse20=evse)
            r = await s.run(ctx, st)
            d = r.as_dict()
            d["cipher"] = list(st.cipher()) if st.cipher() is not None else None
            OUT["sessions"].append(d)
    finally:
        OUT["sdp"] = ep.sdp.stats()
        ep.close()
        if cap is not None:
            cap.close()
