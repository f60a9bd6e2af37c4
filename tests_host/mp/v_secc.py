# Test service: the SECC side of the transport. SDP server on CFG["iface"] offering a TCP and/or TLS
# listener; accepts CFG["sessions"] connections and answers each V2GTP message with the same
# payload type and payload reversed, until the peer closes. Records what happened in OUT.
import select
from iso15118.transport import netif as nif, sdp
from iso15118.transport.sdp_server import SdpServer
from iso15118.transport.stream import Listener, StreamClosed, StreamTimeout, TlsConfig
from iso15118.transport import v2gtp

CFG = {"iface": "", "tcp": True, "tls": None, "sessions": 1, "timeout_ms": 10000, "capture": None,
       "echo": True, "stop": True, "max_frames": 0}
OUT = {"frames": [], "errors": [], "ciphers": [], "sdp": None, "ready": False, "peers": []}


async def main(ctx):
    ni = nif.Netif(CFG["iface"])
    cap = CFG["capture"]
    offers = {}
    listeners = []
    if CFG["tcp"]:
        lt = Listener(ni, tap_factory=cap)
        listeners.append(lt)
        offers[sdp.SEC_NONE] = lt.port
    if CFG["tls"] is not None:
        ls = Listener(ni, tls=TlsConfig(*CFG["tls"]), tap_factory=cap)
        listeners.append(ls)
        offers[sdp.SEC_TLS] = ls.port
    srv = SdpServer(ni, offers, tap=cap() if cap is not None else None)
    OUT["offers"] = offers
    OUT["ll"] = nif.ntop(ni.ll)
    OUT["ready"] = True
    print("READY", offers)  # the test starts its peer on this line
    poller = select.poll()
    for lt in listeners:
        poller.register(lt.sock, select.POLLIN)
    k = ctx.kernel
    t0 = k.ticks_ms()
    done = 0
    try:
        while done < CFG["sessions"] and k.ticks_diff(k.ticks_ms(), t0) < CFG["timeout_ms"]:
            ctx.feed()
            # One wait_io per service: the SDP socket is awaited, the listeners checked each slice.
            await srv.serve(ctx, 20)
            st = None
            for lt in listeners:
                st = lt.try_accept()
                if st is not None:
                    break
            if st is None:
                continue
            OUT["peers"].append(nif.ntop(st.remote[0]))
            try:
                while True:
                    pt, payload = await st.recv(ctx, CFG["timeout_ms"])
                    if st.cipher() is not None and len(OUT["ciphers"]) <= done:
                        OUT["ciphers"].append(list(st.cipher()))
                    OUT["frames"].append([pt, payload.hex()])
                    if CFG["echo"]:
                        await st.send(ctx, pt, bytes(reversed(payload)))
                    if CFG["max_frames"] and len(OUT["frames"]) >= CFG["max_frames"]:
                        break
            except (StreamClosed, StreamTimeout, v2gtp.V2GTPError) as e:
                OUT["errors"].append([type(e).__name__, str(e)])
            OUT["deframer_errors"] = st.dfr.errors
            st.close()
            done += 1
    finally:
        OUT["sdp"] = srv.stats()
        srv.close()
        for lt in listeners:
            lt.close()
        if CFG["stop"]:
            k.stop()
    await ctx.wait_forever()
