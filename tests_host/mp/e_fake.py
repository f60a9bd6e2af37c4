# Unit-test doubles for the EVCC logic (tests_host/test_iso15118_evcc_logic.py): a context with a virtual
# clock, and a stream whose far end is our own SECC state machines (iso15118.secc din/iso2) in the
# same process, with knobs to drop, delay or rewrite responses. Units only: the link tests use the
# iso15118 package's SECC.
from exi import codec, schemas
from iso15118.secc import din as sdin, iso2 as siso2, sap as ssap
from iso15118.secc.evse_limits import EvseLimits
from iso15118.transport.stream import StreamClosed, StreamTimeout
from fake_clock import Clock as Kernel


class Ctx:
    # the part of the service API (jezgro/service.py) the EVCC uses: its clock, feed, sleep
    def __init__(self):
        self.kernel = Kernel()
        self.slept = 0

    def ticks_ms(self):
        return self.kernel.now

    def ticks_diff(self, a, b):
        return a - b

    def ticks_add(self, a, b):
        return a + b

    def feed(self):
        pass

    # the clock the ISO 15118 libraries read from ctx
    def ticks_ms(self):
        return self.kernel.ticks_ms()

    def ticks_diff(self, a, b):
        return a - b

    def ticks_add(self, a, b):
        return a + b

    async def sleep_ms(self, ms):
        self.kernel.now += ms
        self.slept += ms


class SeccStream:
    # silent: request name whose response never comes (the EVCC's recv times out)
    # rewrite: {response name: fn(body)} applied before encoding
    # latency_ms: virtual time each exchange takes
    # close_on: request name after which the SECC closes the connection
    # supported: the SECC's SAP table (iso15118.secc.sap.SUPPORTED by default)
    def __init__(self, ctx, limits=None, silent=None, rewrite=None, latency_ms=1, ongoing=None, close_on=None,
                 supported=None, answer_pt=None):
        self.ctx = ctx
        self.limits = limits or EvseLimits()
        self.silent = silent
        self.rewrite = rewrite or {}
        self.latency_ms = latency_ms
        self.ongoing = dict(ongoing or {})   # response name -> how many times to answer Ongoing first
        self.queue = []
        self.state = None
        self.mod = None
        self.g = None
        self.data = None
        self.closed = False
        self.seen = []
        self.close_on = close_on
        self.supported = supported or ssap.SUPPORTED
        self.peer_closed = False
        self.answer_pt = answer_pt   # (request name, payload type) to answer that request with

    async def send(self, ctx, pt, payload):
        if self.mod is None:
            req = codec.decode(schemas.grammar("handshake"), payload)["supportedAppProtocolReq"]
            res, ns, _ = ssap.negotiate(req, self.supported)
            self.seen.append("supportedAppProtocolReq")
            if self.silent == "supportedAppProtocolReq":
                return
            self.queue.append((pt, codec.encode(schemas.grammar("handshake"), {"supportedAppProtocolRes": res})))
            if ns is not None:
                self.mod = sdin if ns == ssap.DIN else siso2
                self.g = schemas.grammar("din" if ns == ssap.DIN else "iso2")
                self.data = (sdin.DinData if ns == ssap.DIN else siso2.Iso2Data)(self.limits)
                self.state = self.mod.SessionSetup()
            return
        msg = codec.decode(self.g, payload)["V2G_Message"]
        name, body = next(iter(msg["Body"].items()))
        self.seen.append(name)
        if name == self.silent:
            return
        if name == self.close_on:
            self.peer_closed = True
            return
        res_name, res, nxt = self.state.process(self.data, name, body)
        left = self.ongoing.get(res_name, 0)
        if left and res.get("EVSEProcessing") == "Finished":
            self.ongoing[res_name] = left - 1
            res["EVSEProcessing"] = "Ongoing"
            nxt = self.state   # answered Ongoing: the EV repeats the same request
        if res_name in self.rewrite:
            self.rewrite[res_name](res)
        self.state = nxt
        out = {"V2G_Message": {"Header": {"SessionID": self.data.session_id}, "Body": {res_name: res}}}
        if self.answer_pt is not None and self.answer_pt[0] == name:
            pt = self.answer_pt[1]
        self.queue.append((pt, codec.encode(self.g, out)))

    async def recv(self, ctx, timeout_ms):
        if self.peer_closed:
            raise StreamClosed("peer closed")
        if not self.queue:
            self.ctx.kernel.now += timeout_ms
            raise StreamTimeout("no V2GTP message within %d ms" % timeout_ms)
        self.ctx.kernel.now += self.latency_ms
        return self.queue.pop(0)

    def close(self):
        self.closed = True


def run(coro):
    # Drives a coroutine whose awaits never really suspend (the doubles above) to its end.
    try:
        while True:
            coro.send(None)
    except StopIteration as e:
        return e.value
