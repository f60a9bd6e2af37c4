# One EVCC communication session on a connected V2G stream: supportedAppProtocolReq with the EV's
# protocols by priority, then the chosen protocol's state machine until SessionStopRes, a FAILED
# response, a message or sequence timeout, the SECC closing, or a malformed answer.
# run_ev() is the whole EV side: SDP discovery, TCP/TLS connect, session.
from exi import schemas
from iso15118.transport.stream import StreamClosed, StreamTimeout
from iso15118.transport.v2gtp import V2GTPError
from iso15118.evcc import din, iso2, iso20, sap, timeouts
from iso15118.evcc.exchange import (Deadline, EvccEnd, Exchange, END_STOP, END_FAILED, END_TIMEOUT,  # noqa: F401
                                    END_CLOSED, END_MALFORMED)

# namespace -> protocol state machine module, each with `async def run(ctx, stream, ev, result)`
MACHINES = {sap.DIN: din, sap.ISO2: iso2, sap.ISO20_DC: iso20, sap.ISO20_AC: iso20}

# `jezgro ev --protocol` names -> (namespace, EvModel.energy_service)
PROTOCOL_NAMES = {
    "din": (sap.DIN, "DC"),
    "iso2-dc": (sap.ISO2, "DC"),
    "iso2-ac": (sap.ISO2, "AC"),
    "iso20-dc-bpt": (sap.ISO20_DC, "DC_BPT"),
    "iso20-ac-bpt": (sap.ISO20_AC, "AC_BPT"),
}


class EvccResult:
    def __init__(self):
        self.protocol = None
        self.requests = []       # request names in the order sent
        self.responses = []      # [response name, ResponseCode] in the order received
        self.times_ms = []       # request sent -> response received, per response
        self.codec_us = []       # our side per exchange: encoding the request + decoding the response
        self.end = None
        self.detail = ""
        self.duration_ms = 0
        self.sdp = None
        self.cipher = None       # [suite, version] of a TLS session
        self.ev = None

    def as_dict(self):
        return {"protocol": self.protocol, "requests": self.requests, "responses": self.responses,
                "times_ms": self.times_ms, "codec_us": self.codec_us, "end": self.end, "detail": self.detail,
                "duration_ms": self.duration_ms, "sdp": self.sdp, "cipher": self.cipher, "ev": self.ev}


class EvccSession:
    # ev: EvModel; protocols: namespaces in the EV's order of preference (each needs a machine).
    # setup_t0: kernel ms when connection setup (SDP) began, for V2G_EVCC_CommunicationSetup_Timeout.
    # msg_ms: {request name: ms} replacing standard message timeouts (a peer known to be slower).
    def __init__(self, ev, protocols, on_message=None, setup_t0=None, msg_ms=None):
        for ns in protocols:
            if ns not in MACHINES:
                raise ValueError("no EVCC state machine for %s" % ns)
        self.ev = ev
        self.protocols = protocols
        self.on_message = on_message
        self.setup_t0 = setup_t0
        self.msg_ms = msg_ms or {}
        self.result = EvccResult()

    async def run(self, ctx, stream):
        r = self.result
        k = ctx
        t0 = k.ticks_ms()
        x = Exchange(ctx, stream, r, self.on_message)
        x.msg_ms = self.msg_ms
        x.setup = Deadline(ctx, "V2G_EVCC_CommunicationSetup_Timeout", timeouts.COMMUNICATION_SETUP_MS)
        if self.setup_t0 is not None:
            x.setup.t0 = self.setup_t0
        stream.evcc = x   # the machine finds it with exchange.of(); see there
        try:
            ns = await self._sap(x)
            r.protocol = ns
            await MACHINES[ns].run(ctx, stream, self.ev, r)
            r.end = END_STOP
        except EvccEnd as e:
            r.end, r.detail = e.end, e.detail
        except StreamTimeout as e:
            r.end, r.detail = END_TIMEOUT, str(e)
        except StreamClosed as e:
            r.end, r.detail = END_CLOSED, str(e)
        except V2GTPError as e:
            r.end, r.detail = END_MALFORMED, "V2GTPError: %s" % e
        finally:
            c = stream.cipher() if hasattr(stream, "cipher") else None
            r.cipher = list(c) if c is not None else None
            stream.close()
            r.duration_ms = k.ticks_diff(k.ticks_ms(), t0)
            r.ev = self.ev.as_dict()
        return r

    async def _sap(self, x):
        hs = schemas.grammar("handshake")
        req = sap.build_req(self.protocols)
        res = await x.request(hs, "supportedAppProtocolReq", {"supportedAppProtocolReq": req},
                              "supportedAppProtocolRes", timeouts.SUPPORTED_APP_PROTOCOL_MS)
        schemas.release("handshake")
        try:
            return sap.chosen(req, res["supportedAppProtocolRes"])
        except sap.SapError as e:
            raise EvccEnd(END_FAILED, str(e))


async def run_ev(ctx, iface, ev, protocols, tls=None, pcap=None, on_message=None, msg_ms=None, pool=None):
    # The EV side from plug-in: SDP discovery on iface, TCP (or TLS with a TlsConfig) connect,
    # EvccSession. protocols: namespaces by preference. -> EvccResult (connection failures too:
    # end Failed/SequenceTimeout with the reason in detail). pool: BufPool for the receive buffer
    # (an EV that charges again and again reuses one instead of allocating 8 KB per session).
    from iso15118.transport import netif as nif
    from iso15118.transport.endpoints import evcc_connect, SecurityRefused
    from iso15118.transport.sdp_client import SdpTimeout
    k = ctx
    t0 = k.ticks_ms()
    cap = None
    if pcap is not None:
        from iso15118.capture import Capture
        cap = Capture(pcap, iface)
    try:
        s = EvccSession(ev, protocols, on_message, t0, msg_ms)
        try:
            st, sd = await evcc_connect(ctx, nif.Netif(iface), tls, capture=cap, pool=pool)
        except SdpTimeout as e:
            s.result.end, s.result.detail = END_TIMEOUT, "SDP: %s" % e
            return s.result
        except SecurityRefused as e:
            s.result.end, s.result.detail = END_FAILED, "SDP: %s" % e
            return s.result
        except (StreamClosed, StreamTimeout) as e:
            s.result.end, s.result.detail = END_CLOSED, "connect: %s" % e
            return s.result
        r = await s.run(ctx, st)
        r.sdp = {"addr": nif.ntop(sd.addr), "port": sd.port, "security": sd.security,
                 "requests": sd.requests, "elapsed_ms": sd.elapsed_ms}
        return r
    finally:
        if cap is not None:
            cap.close()
