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
from iso15118.secc import din, iso2, iso20, sap

# namespace -> (state machine module, its session data class)
MACHINES = {sap.DIN: (din, din.DinData), sap.ISO2: (iso2, iso2.Iso2Data),
            sap.ISO20_DC: (iso20, iso20.Data20), sap.ISO20_AC: (iso20, iso20.Data20)}

PT_EXI = 0x8001                  # V2GTP payload type of -2/DIN EXI messages
SEQUENCE_TIMEOUT_MS = 60000      # V2G_SECC_Sequence_Timeout
SETUP_TIMEOUT_MS = 20000         # V2G_SECC_CommunicationSetup_Timeout: connection -> SessionSetupReq
PERFORMANCE_MS = 25              # charge-loop response budget (V2G_SECC_CurrentDemand_Performance_Time)

# How a session ended (SessionResult.end)
END_STOP = "SessionStop"         # clean: SessionStopRes OK sent
END_FAILED = "Failed"            # we sent a FAILED response (or no protocol matched) and closed
END_TIMEOUT = "SequenceTimeout"
END_SETUP_TIMEOUT = "CommunicationSetupTimeout"
END_CLOSED = "PeerClosed"
END_MALFORMED = "Malformed"      # undecodable EXI or V2GTP framing: nothing to answer, closed


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
    def __init__(self, limits, protocols=sap.SUPPORTED, sequence_timeout_ms=SEQUENCE_TIMEOUT_MS, on_state=None,
                 evse20=None, setup_timeout_ms=SETUP_TIMEOUT_MS):
        self.limits = limits
        self.evse20 = evse20 if evse20 is not None else iso20.Evse20()  # -20 offer, BPT/AC limits
        self.protocols = protocols
        self.timeout_ms = sequence_timeout_ms
        self.setup_ms = setup_timeout_ms
        self.setup_deadline = None  # ticks_ms by which SessionSetupReq must have come (None once it has)
        self.setup_timer = False    # the pending receive waits on the CommunicationSetup timer
        self.on_state = on_state  # called with each request name (MSG_SESSION_STATE reporting)
        self.result = SessionResult()

    async def run(self, ctx, stream):
        r = self.result
        k = ctx.kernel
        t0 = k.ticks_ms()
        self.setup_deadline = k.ticks_add(t0, self.setup_ms)
        try:
            await self._run(ctx, stream)
        except StreamTimeout:
            if self.setup_timer:
                r.end, r.detail = END_SETUP_TIMEOUT, "no SessionSetupReq within %d ms" % self.setup_ms
            else:
                r.end, r.detail = END_TIMEOUT, "no request within %d ms" % self.timeout_ms
        except StreamClosed as e:
            r.end, r.detail = END_CLOSED, str(e)
        except (V2GTPError, EXIError) as e:
            r.end, r.detail = END_MALFORMED, "%s: %s" % (type(e).__name__, e)
        finally:
            stream.close()
            r.duration_ms = k.ticks_diff(k.ticks_ms(), t0)
        return r

    def _timeout(self, ctx):
        # V2G_SECC_Sequence_Timeout, cut by V2G_SECC_CommunicationSetup_Timeout until SessionSetupReq
        t = self.timeout_ms
        self.setup_timer = False
        if self.setup_deadline is not None:
            k = ctx.kernel
            left = max(0, k.ticks_diff(self.setup_deadline, k.ticks_ms()))
            if left < t:
                t = left
                self.setup_timer = True
        return t

    def _got(self, name):
        if name == "SessionSetupReq":
            self.setup_deadline = None

    async def _recv(self, ctx, stream, grammar):
        pt, payload = await stream.recv(ctx, self._timeout(ctx))
        t = time.ticks_us()
        if pt != PT_EXI:
            raise EXIError("payload type 0x%04x in a -2/DIN session" % pt)
        return codec.decode(grammar, payload), t

    async def _recv20(self, ctx, stream, grammars):
        # grammars: payload type -> grammar of the schema sets this -20 session uses
        pt, payload = await stream.recv(ctx, self._timeout(ctx))
        t = time.ticks_us()
        g = grammars.get(pt)
        if g is None:
            raise EXIError("payload type 0x%04x in this -20 session" % pt)
        return codec.decode(g, payload), t

    async def _run(self, ctx, stream):
        r = self.result
        hs = schemas.grammar("handshake")
        doc, _ = await self._recv(ctx, stream, hs)
        req = doc.get("supportedAppProtocolReq")
        if req is None:
            raise EXIError("expected supportedAppProtocolReq, got %s" % list(doc))
        r.requests.append("supportedAppProtocolReq")
        res, ns, _ = sap.negotiate(req, self.protocols)
        await stream.send(ctx, PT_EXI, codec.encode(hs, {"supportedAppProtocolRes": res}))
        r.responses.append(["supportedAppProtocolRes", res["ResponseCode"]])
        schemas.release("handshake")
        if ns is None:
            r.end, r.detail = END_FAILED, "no common protocol"
            return
        r.protocol = ns
        machine = MACHINES.get(ns)
        if machine is None:
            r.end, r.detail = END_FAILED, "no state machine for %s" % ns
            return
        if machine[0] is iso20:
            await self._states20(ctx, stream, ns)
            return
        await self._states(ctx, stream, schemas.grammar(self.protocols[ns][2]), machine[0], machine[1])

    async def _states(self, ctx, stream, g, mod, data_cls):
        r = self.result
        d = data_cls(self.limits)
        state = mod.SessionSetup()  # type: din.State | None
        while state is not None:
            doc, t_rx = await self._recv(ctx, stream, g)
            msg = doc.get("V2G_Message")
            if msg is None or len(msg.get("Body", {})) != 1:
                raise EXIError("not one V2G_Message body: %s" % list(doc))
            name, body = next(iter(msg["Body"].items()))
            self._got(name)
            r.requests.append(name)
            if self.on_state is not None:
                self.on_state(name)
            if name not in mod.BUILD:
                raise EXIError("%s is no request of this protocol" % name)
            if name != "SessionSetupReq" and msg["Header"].get("SessionID") != d.session_id:
                res_name, build = mod.BUILD[name]
                res_name, res, state = res_name, build(d, din.UNKNOWN_SESSION), None
            else:
                res_name, res, state = state.process(d, name, body)
            out = {"V2G_Message": {"Header": {"SessionID": d.session_id}, "Body": {res_name: res}}}
            await stream.send(ctx, PT_EXI, codec.encode(g, out))
            if name in mod.LOOP_REQUESTS:
                r.loop_us.append(time.ticks_diff(time.ticks_us(), t_rx))
            r.responses.append([res_name, res["ResponseCode"]])
            if state is None:
                ok = name == "SessionStopReq" and res["ResponseCode"] == din.OK
                r.end = END_STOP if ok else END_FAILED
                r.detail = "" if ok else "%s answered %s" % (name, res["ResponseCode"])

    async def _states20(self, ctx, stream, ns):
        # The -20 loop: the request's payload type picks the grammar; the response goes out in the
        # schema set and payload type of its name. The grammars are released at the end (two of
        # them stay loaded for a whole session, 30-40 KB).
        r = self.result
        energy = v20.DC if ns == sap.ISO20_DC else v20.AC
        names = (v20.COMMON, energy)
        grammars = {v20.SCHEMA_PT[n]: schemas.grammar(n) for n in names}
        d = iso20.Data20(self.limits, self.evse20, ns, ctx.kernel)
        state = iso20.SessionSetup()  # type: iso20.State | None
        try:
            while state is not None:
                doc, t_rx = await self._recv20(ctx, stream, grammars)
                name, body = v20.message(doc)
                self._got(name)
                r.requests.append(name)
                if self.on_state is not None:
                    self.on_state(name)
                if name not in iso20.BUILD:
                    raise EXIError("%s is no request of this protocol" % name)
                if name != "SessionSetupReq" and body["Header"].get("SessionID") != d.session_id:
                    res_name, build = iso20.BUILD[name]
                    res, state = build(d, v20.FAILED_UNKNOWN_SESSION), None
                else:
                    res_name, res, state = state.process(d, name, body)
                res["Header"] = v20.header(d.session_id)
                pt = v20.payload_type(res_name)
                await stream.send(ctx, pt, codec.encode(grammars[pt], {res_name: res}))
                if name in iso20.LOOP_REQUESTS:
                    r.loop_us.append(time.ticks_diff(time.ticks_us(), t_rx))
                r.responses.append([res_name, res["ResponseCode"]])
                if state is None:
                    ok = name == "SessionStopReq" and res["ResponseCode"] == v20.OK
                    r.end = END_STOP if ok else END_FAILED
                    r.detail = "" if ok else "%s answered %s" % (name, res["ResponseCode"])
        finally:
            r.notes = d.notes()
            grammars = {}
            for n in names:
                schemas.release(n)
