# Test service: the SECC side of the transport. SeccEndpoint on CFG["iface"] offering TCP and/or TLS;
# accepts CFG["sessions"] connections and answers each V2GTP message with the same payload type and
# the payload reversed (unless echo is off), until the peer closes. Records what happened in OUT.
import gc
from iso15118.transport import netif as nif
from iso15118.transport.endpoints import SeccEndpoint
from iso15118.transport.stream import StreamClosed, StreamTimeout, TlsConfig
from iso15118.transport import v2gtp

CFG = {"iface": "", "tcp": True, "tls": None, "sessions": 1, "timeout_ms": 10000, "capture": None,
       "echo": True, "stop": True, "max_frames": 0}
OUT = {"frames": [], "errors": [], "ciphers": [], "sdp": None, "ready": False, "peers": [], "heap": []}


async def main(ctx):
    try:
        await serve(ctx)
    finally:
        if CFG["stop"]:
            ctx.kernel.stop()
    await ctx.wait_forever()  # a service's main never returns


async def serve(ctx):
    ni = nif.Netif(CFG["iface"])
    tls = TlsConfig(*CFG["tls"]) if CFG["tls"] is not None else None
    ep = SeccEndpoint(ni, CFG["tcp"], tls, CFG["capture"])
    OUT["offers"] = ep.offers
    OUT["ll"] = nif.ntop(ni.ll)
    OUT["ready"] = True
    print("READY", ep.offers)  # the test starts its peer on this line
    k = ctx.kernel
    t0 = k.ticks_ms()
    st = None
    try:
        for done in range(CFG["sessions"]):
            left = CFG["timeout_ms"] - k.ticks_diff(k.ticks_ms(), t0)
            st = None  # the previous connection must not count against this one
            gc.collect()
            m0 = gc.mem_alloc()
            try:
                st = await ep.accept(ctx, left)
            except StreamTimeout as e:
                OUT["errors"].append(["StreamTimeout", str(e)])
                return
            OUT["peers"].append(nif.ntop(st.remote[0]))
            try:
                while True:
                    pt, payload = await st.recv(ctx, CFG["timeout_ms"])
                    OUT["frames"].append([pt, payload.hex()])
                    if len(OUT["heap"]) <= done:  # live heap of one connection (TLS: mbedtls' too)
                        gc.collect()
                        OUT["heap"].append(gc.mem_alloc() - m0)
                    if st.cipher() is not None and len(OUT["ciphers"]) <= done:
                        OUT["ciphers"].append(list(st.cipher()))
                    if CFG["echo"]:
                        await st.send(ctx, pt, bytes(reversed(payload)))
                    if CFG["max_frames"] and len(OUT["frames"]) >= CFG["max_frames"]:
                        break
            except (StreamClosed, StreamTimeout, v2gtp.V2GTPError) as e:
                OUT["errors"].append([type(e).__name__, str(e)])
            OUT["deframer_errors"] = st.dfr.errors
            st.close()
    finally:
        OUT["sdp"] = ep.sdp.stats()
        ep.close()
