# Test service: the EVCC side of the transport. evcc_connect() on CFG["iface"] (TLS asked when
# CFG["tls"] is set), then sends CFG["frames"] one by one and collects the answers with their times.
from iso15118.transport import netif as nif
from iso15118.transport.endpoints import evcc_connect, SecurityRefused
from iso15118.transport.sdp_client import SdpTimeout
from iso15118.transport.stream import StreamClosed, StreamTimeout, TlsConfig
from iso15118.transport import sdp, v2gtp

CFG = {"iface": "", "tls": None, "enforce_tls": False, "frames": [], "capture": None,
       "max_requests": sdp.MAX_REQUESTS, "stop": True, "raw": None}
OUT = {"answers": [], "errors": [], "sdp": None, "cipher": None}


async def main(ctx):
    try:
        await session(ctx)
    finally:
        if CFG["stop"]:
            ctx.kernel.stop()
    await ctx.wait_forever()  # a service's main never returns


async def session(ctx):
    ni = nif.Netif(CFG["iface"])
    tls = TlsConfig(*CFG["tls"]) if CFG["tls"] is not None else None
    k = ctx.kernel
    try:
        st, r = await evcc_connect(ctx, ni, tls, CFG["enforce_tls"], CFG["capture"], CFG["max_requests"])
    except (SdpTimeout, SecurityRefused, StreamClosed, StreamTimeout) as e:
        OUT["errors"].append([type(e).__name__, str(e)])
        return
    OUT["sdp"] = {"addr": nif.ntop(r.addr), "port": r.port, "security": r.security,
                  "requests": r.requests, "elapsed_ms": r.elapsed_ms, "bad": r.ignored}
    try:
        for pt, payload in CFG["frames"]:
            t = k.ticks_ms()
            await st.send(ctx, pt, payload)
            apt, ans = await st.recv(ctx, 2000)
            OUT["answers"].append([apt, ans.hex(), k.ticks_diff(k.ticks_ms(), t)])
            if st.cipher() is not None:
                OUT["cipher"] = list(st.cipher())
    except (StreamClosed, StreamTimeout, v2gtp.V2GTPError) as e:
        OUT["errors"].append([type(e).__name__, str(e)])
    st.close()
