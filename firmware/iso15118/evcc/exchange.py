# One request/response exchange of the EVCC, shared by every protocol machine: encode, send, wait
# for the response within its V2G_EVCC_Msg_Timeout, decode, check it is the expected response,
# record both names and the ResponseCode. Ending the session is an exception (EvccEnd) carrying
# the END_* reason, so a machine reads as the standard's sequence of requests.
import time
from exi import codec
from exi.codec import EXIError
from iso15118.transport.stream import StreamTimeout
# How a session ended (EvccResult.end): the SECC's strings (common.py); the machines import them from here.
from iso15118.common import PT_EXI, END_STOP, END_FAILED, END_TIMEOUT, END_CLOSED, END_MALFORMED  # noqa: F401


class EvccEnd(Exception):
    def __init__(self, end, detail):
        super().__init__(detail)
        self.end = end
        self.detail = detail


class Deadline:
    # A sequence timer (CableCheck, PreCharge, Ongoing, CommunicationSetup ...): started once,
    # bounds the message timeouts of the requests sent under it.
    def __init__(self, ctx, name, limit_ms):
        self.k = ctx
        self.name = name
        self.limit_ms = limit_ms
        self.t0 = self.k.ticks_ms()

    def left(self):
        left = self.limit_ms - self.k.ticks_diff(self.k.ticks_ms(), self.t0)
        if left <= 0:
            raise EvccEnd(END_TIMEOUT, "%s (%d ms) expired" % (self.name, self.limit_ms))
        return left


class Exchange:
    def __init__(self, ctx, stream, result, on_message=None):
        self.ctx = ctx
        self.stream = stream
        self.result = result
        self.on_message = on_message   # called (direction, name, code or None, ms) per message
        self.session_id = "00"         # DIN/-2 header: 00 until SessionSetupRes assigns one
        self.setup = None              # Deadline of V2G_EVCC_CommunicationSetup_Timeout until SessionSetupRes
        self.msg_ms = {}               # request name -> message timeout replacing the standard's (tests, slow peers)

    async def request(self, g, name, doc, res_name, timeout_ms, pt=PT_EXI, deadlines=()):
        # Sends doc (the whole EXI document), -> decoded response document. Raises EvccEnd.
        # deadlines: the sequence timers running (Deadline), each cutting timeout_ms to its rest.
        r = self.result
        timeout_ms = self.msg_ms.get(name, timeout_ms)
        timers = list(deadlines)
        if self.setup is not None:
            timers.append(self.setup)
        for d in timers:
            left = d.left()
            if left < timeout_ms:
                timeout_ms = left
        t_enc = time.ticks_us()
        try:
            data = codec.encode(g, doc)
        except EXIError as e:   # a value the schema does not allow (EV configuration): nothing to send
            raise EvccEnd(END_FAILED, "cannot encode %s: %s" % (name, e))
        enc_us = time.ticks_diff(time.ticks_us(), t_enc)
        k = self.ctx
        t0 = k.ticks_ms()
        await self.stream.send(self.ctx, pt, data)
        r.requests.append(name)
        if self.on_message is not None:
            self.on_message("sent", name, None, 0)
        try:
            rpt, payload = await self.stream.recv(self.ctx, timeout_ms)
        except StreamTimeout:
            timer = "V2G_EVCC_Msg_Timeout"
            for d in timers:
                if d.limit_ms - k.ticks_diff(k.ticks_ms(), d.t0) <= 0:
                    timer = d.name
            raise EvccEnd(END_TIMEOUT, "no %s within %d ms after %s (%s)" % (res_name, timeout_ms, name, timer))
        ms = k.ticks_diff(k.ticks_ms(), t0)
        if rpt != pt:
            raise EvccEnd(END_MALFORMED, "payload type 0x%04x in answer to %s" % (rpt, name))
        t_dec = time.ticks_us()
        try:
            res = codec.decode(g, payload)
        except EXIError as e:
            raise EvccEnd(END_MALFORMED, "%s answer undecodable: %s" % (name, e))
        r.codec_us.append(enc_us + time.ticks_diff(time.ticks_us(), t_dec))
        body, got = _body(res, res_name)
        code = body.get("ResponseCode", "") if body is not None else ""
        r.responses.append([got, code])
        r.times_ms.append(ms)
        if self.on_message is not None:
            self.on_message("received", got, code, ms)
        if body is None:
            raise EvccEnd(END_MALFORMED, "%s answered with %s" % (name, got))
        if code.startswith("FAILED"):
            raise EvccEnd(END_FAILED, "%s: %s" % (got, code))
        return res

    async def v2g(self, g, name, body, timeout_ms, deadlines=()):
        # DIN/-2 V2G_Message with our SessionID -> (response body, response header)
        res_name = name[:-3] + "Res"
        doc = {"V2G_Message": {"Header": {"SessionID": self.session_id}, "Body": {name: body}}}
        res = await self.request(g, name, doc, res_name, timeout_ms, PT_EXI, deadlines)
        msg = res["V2G_Message"]
        return msg["Body"][res_name], msg["Header"]


def of(ctx, stream, result):
    # The Exchange EvccSession attached to the stream (with its CommunicationSetup timer and message
    # callback), or a new one when a machine runs on a bare stream. Keeps the machines' signature
    # run(ctx, stream, ev, result) free of session internals.
    x = getattr(stream, "evcc", None)
    if x is None:
        x = Exchange(ctx, stream, result)
        stream.evcc = x
    return x


def _body(doc, res_name):
    # -> (response body or None, name of what came): DIN/-2 carry it in V2G_Message.Body, -20 and
    # SAP at the top level.
    msg = doc.get("V2G_Message")
    if msg is not None:
        body = msg.get("Body", {})
    else:
        body = doc
    if len(body) != 1:
        return None, "?"
    got = next(iter(body))
    return (body[got] if got == res_name else None), got
