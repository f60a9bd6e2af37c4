# Test service: the EVCC side of the transport. SDP discovery on CFG["iface"] asking for
# CFG["security"], connect (TLS when granted), send CFG["frames"] and collect the answers.
from iso15118.transport import netif as nif, sdp
from iso15118.transport.sdp_client import SdpClient, SdpTimeout
from iso15118.transport.stream import connect, StreamClosed, StreamTimeout, TlsConfig
from iso15118.transport import v2gtp

CFG = {"iface": "", "security": sdp.SEC_NONE, "tls": None, "frames": [], "capture": None,
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
    cap = CFG["capture"]
    tap = cap() if cap is not None else None
    cl = SdpClient(ni, CFG["security"], tap=tap)
    k = ctx.kernel
    try:
        r = await cl.discover(ctx, max_requests=CFG["max_requests"])
    except SdpTimeout as e:
        OUT["errors"].append(["SdpTimeout", str(e)])
        return
    finally:
        cl.close()
    OUT["sdp"] = {"addr": nif.ntop(r.addr), "port": r.port, "security": r.security,
                  "requests": r.requests, "elapsed_ms": r.elapsed_ms, "bad": cl.bad}
    tls = TlsConfig(*CFG["tls"]) if r.security == sdp.SEC_TLS and CFG["tls"] is not None else None
    if r.security == sdp.SEC_TLS and tls is None:
        OUT["errors"].append(["Security", "TLS granted but not configured"])
        return
    ctap = cap() if cap is not None else None
    try:
        st = await connect(ctx, ni, r.addr, r.port, tls=tls, tap=ctap)
    except (StreamClosed, StreamTimeout) as e:
        OUT["errors"].append([type(e).__name__, str(e)])
        return
    try:
        if CFG["raw"] is not None:
            await st.send_raw(ctx, CFG["raw"])
        for pt, payload in CFG["frames"]:
            t = k.ticks_ms()
            await st.send(ctx, pt, payload)
            apt, ans = await st.recv(ctx, 2000)
            OUT["answers"].append([apt, ans.hex(), k.ticks_diff(k.ticks_ms(), t)])
            if st.cipher() is not None:
                OUT["cipher"] = list(st.cipher())
        if CFG["raw"] is not None:
            await st.recv(ctx, 2000)
    except (StreamClosed, StreamTimeout, v2gtp.V2GTPError) as e:
        OUT["errors"].append([type(e).__name__, str(e)])
    st.close()
