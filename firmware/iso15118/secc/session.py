# One SECC communication session on an accepted V2G stream: supportedAppProtocol, then the chosen
# protocol's state machine until SessionStop, a failure response, the peer closing, or
# V2G_SECC_Sequence_Timeout (60 s without the next request). Decoding/encoding stays in firmware/exi,
# the socket in the stream; this module only moves documents between them and the states.
# DIN/-2 messages are V2G_Message envelopes (payload type 0x8001); -20 messages are top-level
# documents whose payload type names their schema set (common 0x8002, AC 0x8003, DC 0x8004).
import time
from exi import codec, schemas
from exi.codec import EXIError
from iso15118.transport.stream import StreamClosed, StreamTimeout
from iso15118.transport.v2gtp import V2GTPError
from iso15118 import v20
# How a session ended (SessionResult.end), the same strings as the EVCC's; PT_EXI: DIN/-2 messages.
from iso15118.common import (PT_EXI, END_STOP, END_FAILED, END_TIMEOUT, END_SETUP_TIMEOUT,  # noqa: F401
                             END_CLOSED, END_MALFORMED)
from iso15118.secc import din, iso2, iso20, sap

# namespace -> (state machine module, its session data class)
MACHINES = {sap.DIN: (din, din.DinData), sap.ISO2: (iso2, iso2.Iso2Data),
            sap.ISO20_DC: (iso20, iso20.Data20), sap.ISO20_AC: (iso20, iso20.Data20)}

SEQUENCE_TIMEOUT_MS = 60000      # V2G_SECC_Sequence_Timeout
SETUP_TIMEOUT_MS = 20000         # V2G_SECC_CommunicationSetup_Timeout: connection -> SessionSetupReq
PERFORMANCE_MS = 25              # charge-loop response budget (V2G_SECC_CurrentDemand_Performance_Time)

# Largest request payload per protocol (bytes of EXI; the stream's buffer grows to it once, after
# supportedAppProtocol, which has its own limit in transport/gate.py). DIN 70121 is EIM only: its
# largest request (ChargeParameterDiscoveryReq) is under 200 bytes. -2 requests carry certificate
# chains (PaymentDetailsReq, CertificateInstallation/UpdateReq: up to 4 certificates of 800 bytes,
# [V2G2-010]) and -20 ScheduleExchangeReq an EV power schedule of up to 1024 entries: 8 KB for both.
MAX_PAYLOAD = {sap.DIN: 2048, sap.ISO2: 8192, sap.ISO20_DC: 8192, sap.ISO20_AC: 8192}


def sap_check(payload):
    # The SECC gate's test of a new connection's first message: a decodable supportedAppProtocolReq.
    # Anything else (fuzz, another protocol, garbage) is refused before a session starts.
    try:
        return "supportedAppProtocolReq" in codec.decode(schemas.grammar("handshake"), payload)
    except (EXIError, KeyError, TypeError, IndexError, ValueError):
        return False


class SessionResult:
    def __init__(self):
        self.protocol = None
        self.requests = []       # request names in arrival order
        self.responses = []      # [response name, ResponseCode]
        self.loop_us = []        # charge loop (mod.LOOP_REQUESTS): receive-to-sent time of each response, microseconds
        self.end = None
        self.detail = ""
        self.duration_ms = 0
        self.notes = None        # -20: service, control mode, BPT channel, powers seen (iso20.Data20.notes)

    def as_dict(self):
        return {"protocol": self.protocol, "requests": self.requests, "responses": self.responses,
                "loop_us": self.loop_us, "end": self.end, "detail": self.detail,
                "duration_ms": self.duration_ms, "notes": self.notes}


class SeccSession:
    # The session's progress lives in the object, not in the coroutine: the ISO15118 service keeps it
    # in ctx.store, and after a fault of the service resume() carries on in the state the session had
    # with the same stream and session data (SessionID, EV values). The stream is closed only when
    # the session really ended (a fault skips that), so the EV sees no break.
    def __init__(self, limits, protocols=sap.SUPPORTED, sequence_timeout_ms=SEQUENCE_TIMEOUT_MS, on_state=None,
                 evse20=None, setup_timeout_ms=SETUP_TIMEOUT_MS, on_answer=None):
        self.limits = limits
        self.evse20 = evse20 if evse20 is not None else iso20.Evse20()  # -20 offer, BPT/AC limits
        self.protocols = protocols
        self.timeout_ms = sequence_timeout_ms
        self.setup_ms = setup_timeout_ms
        self.setup_deadline = None  # ticks_ms by which SessionSetupReq must have come (None once it has)
        self.setup_timer = False    # the pending receive waits on the CommunicationSetup timer
        self.on_state = on_state    # called with each request name (SESSION_STATE reporting)
        self.on_answer = on_answer  # called as on_answer(session, request, response name, code) after each response
        self.resumes = 0            # restarts of the service this session was resumed after (resume())
        self.result = SessionResult()
        self.stream = None
        self.mod = None             # the negotiated protocol's state module
        self.d = None               # its session data
        self.state = None           # the state waiting for the next request
        self.grammars = None        # payload type -> grammar of the negotiated protocol
        self.done = False
        self.t0 = 0

    async def run(self, ctx, stream):
        k = ctx
        self.stream = stream
        self.t0 = k.ticks_ms()
        self.setup_deadline = k.ticks_add(self.t0, self.setup_ms)
        return await self._guarded(ctx, self._run(ctx, stream))

    async def resume(self, ctx):
        # A restarted service finishes the session it kept. Before the protocol was negotiated there
        # is nothing to resume: the connection closes and the EV starts again with SDP.
        self.resumes += 1
        if self.mod is None or self.resumes > 1:
            # A second restart within one session: finishing it is what fails (the chaos soak: an
            # out-of-memory loading its grammars, replayed by every resume until the service was
            # quarantined and the station stopped charging). Give the session up, keep the service.
            r = self.result
            r.end, r.detail = END_FAILED, ("service restarted during supportedAppProtocol" if self.mod is None else
                                           "service failed again while finishing this session after a restart")
            self._finish(ctx)
            return r
        return await self._guarded(ctx, self._loop(ctx))

    async def _guarded(self, ctx, coro):
        r = self.result
        try:
            await coro
        except StreamTimeout:
            if self.setup_timer:
                r.end, r.detail = END_SETUP_TIMEOUT, "no SessionSetupReq within %d ms" % self.setup_ms
            else:
                r.end, r.detail = END_TIMEOUT, "no request within %d ms" % self.timeout_ms
        except StreamClosed as e:
            r.end, r.detail = END_CLOSED, str(e)
        except (V2GTPError, EXIError, KeyError, TypeError, IndexError) as e:
            # undecodable, or decodable but without an element the state needs: nothing to answer
            r.end, r.detail = END_MALFORMED, "%s: %s" % (type(e).__name__, e)
        self._finish(ctx)
        return r

    def _finish(self, ctx):
        self.done = True
        self.state = None
        if self.stream is not None:
            self.stream.close()
        if self.d is not None and hasattr(self.d, "notes"):
            self.result.notes = self.d.notes()
        if self.grammars is not None:
            self.grammars = None
            for n in self._schema_names():
                schemas.release(n)
        self.result.duration_ms = ctx.ticks_diff(ctx.ticks_ms(), self.t0)

    def _timeout(self, ctx):
        # V2G_SECC_Sequence_Timeout, cut by V2G_SECC_CommunicationSetup_Timeout until SessionSetupReq
        t = self.timeout_ms
        self.setup_timer = False
        if self.setup_deadline is not None:
            k = ctx
            left = max(0, k.ticks_diff(self.setup_deadline, k.ticks_ms()))
            if left < t:
                t = left
                self.setup_timer = True
        return t

    def _schema_names(self):
        ns = self.result.protocol
        if self.mod is iso20:
            return (v20.COMMON, v20.DC if ns == sap.ISO20_DC else v20.AC)
        return (self.protocols[ns][2],)

    async def _run(self, ctx, stream):
        r = self.result
        hs = schemas.grammar("handshake")
        pt, payload = await stream.recv(ctx, self._timeout(ctx))
        if pt != PT_EXI:
            raise EXIError("payload type 0x%04x for supportedAppProtocolReq" % pt)
        req = codec.decode(hs, payload).get("supportedAppProtocolReq")
        if req is None:
            raise EXIError("expected supportedAppProtocolReq")
        r.requests.append("supportedAppProtocolReq")
        res, ns, _ = sap.negotiate(req, self.protocols)
        await stream.send(ctx, PT_EXI, codec.encode(hs, {"supportedAppProtocolRes": res}))
        r.responses.append(["supportedAppProtocolRes", res["ResponseCode"]])
        schemas.release("handshake")
        if ns is None:
            r.end, r.detail = END_FAILED, "no common protocol"
            return
        r.protocol = ns
        lim = getattr(stream, "limit", None)  # test and bench streams have no deframer
        if lim is not None:
            lim(MAX_PAYLOAD.get(ns, 2048))
        machine = MACHINES.get(ns)
        if machine is None:
            r.end, r.detail = END_FAILED, "no state machine for %s" % ns
            return
        self.mod = machine[0]
        if self.mod is iso20:
            self.d = iso20.Data20(self.limits, self.evse20, ns, ctx)
        else:
            self.d = machine[1](self.limits)
        self.state = self.mod.SessionSetup()
        await self._loop(ctx)

    async def _recv_request(self, ctx, stream, mod, grammars):
        # -> (request name, body, its SessionID, time received). DIN/-2: one V2G_Message on 0x8001;
        # -20: a top-level document whose payload type picks the schema set.
        pt, payload = await stream.recv(ctx, self._timeout(ctx))
        t = time.ticks_us()
        g = grammars.get(pt)
        if g is None:
            raise EXIError("payload type 0x%04x in a %s session" % (pt, self.result.protocol))
        doc = codec.decode(g, payload)
        if mod is iso20:
            name, body = v20.message(doc)
            return name, body, body["Header"].get("SessionID"), t
        msg = doc.get("V2G_Message")
        if msg is None or len(msg.get("Body", {})) != 1:
            raise EXIError("not one V2G_Message body: %s" % list(doc))
        name, body = next(iter(msg["Body"].items()))
        return name, body, msg["Header"].get("SessionID"), t

    async def _send_response(self, ctx, stream, mod, grammars, sid, res_name, res):
        if mod is iso20:
            res["Header"] = v20.header(sid)
            pt = v20.payload_type(res_name)
            await stream.send(ctx, pt, codec.encode(grammars[pt], {res_name: res}))
        else:
            doc = {"V2G_Message": {"Header": {"SessionID": sid}, "Body": {res_name: res}}}
            await stream.send(ctx, PT_EXI, codec.encode(grammars[PT_EXI], doc))

    async def _loop(self, ctx):
        # One request, one response, until a state ends the session. Grammars stay loaded for the
        # session (-20: common plus DC or AC, 30-40 KB) and are released when it ends.
        r = self.result
        stream, mod, d = self.stream, self.mod, self.d
        if stream is None or mod is None or d is None:
            raise EXIError("no negotiated session to run")
        grammars = self.grammars
        if grammars is None:
            names = self._schema_names()
            if mod is iso20:
                grammars = {v20.SCHEMA_PT[n]: schemas.grammar(n) for n in names}
            else:
                grammars = {PT_EXI: schemas.grammar(names[0])}
            self.grammars = grammars
        while self.state is not None:
            name, body, sid, t_rx = await self._recv_request(ctx, stream, mod, grammars)
            if name == "SessionSetupReq":
                self.setup_deadline = None
            r.requests.append(name)
            if self.on_state is not None:
                self.on_state(name)
            if name not in mod.BUILD:
                raise EXIError("%s is no request of this protocol" % name)
            if name != "SessionSetupReq" and sid != d.session_id:
                res_name, build = mod.BUILD[name]
                res, nxt = build(d, mod.UNKNOWN_SESSION), None
            else:
                res_name, res, nxt = self.state.process(d, name, body)
            await self._send_response(ctx, stream, mod, grammars, d.session_id, res_name, res)
            if name == "SessionSetupReq" and nxt is not None:
                stream.established = True  # the connection owns the SECC now (transport/gate.py)
            self.state = nxt
            if name in mod.LOOP_REQUESTS:
                r.loop_us.append(time.ticks_diff(time.ticks_us(), t_rx))
            code = res["ResponseCode"]
            r.responses.append([res_name, code])
            if nxt is None:
                ok = name == "SessionStopReq" and code == mod.OK
                r.end = END_STOP if ok else END_FAILED
                r.detail = "" if ok else "%s answered %s" % (name, code)
            if self.on_answer is not None:
                self.on_answer(self, name, res_name, code)
