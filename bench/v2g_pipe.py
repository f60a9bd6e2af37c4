# An in-process V2G link for benches: two stream ends with the V2gStream interface (recv/send/close/
# cipher), joined by byte queues, and a driver that runs an EVCC and an SECC coroutine in turn without
# the kernel or sockets. What is left of a response time is V2GTP framing, EXI decode, session logic
# and EXI encode: the CPU share of the 25 ms budget (the board adds lwIP and the wire).
import time
from iso15118.transport import v2gtp
from iso15118.transport.stream import StreamClosed, StreamTimeout


class _Turn:
    # `await _Turn()` hands the driver back its turn (a coroutine awaits any iterable in MicroPython).
    def __iter__(self):
        yield None


class MemEnd:
    def __init__(self):
        self.inbox = []      # framed bytes from the peer
        self.inbox_msgs = [] # deframed (payload_type, payload), not yet received
        self.peer = None
        self.closed = False
        self.dfr = v2gtp.Deframer()
        self.on_recv = None  # called with (payload_type, payload) as a message is delivered
        self.t_in = 0        # time.ticks_us() when the last framed bytes were taken off the link

    async def recv(self, ctx, timeout_ms):
        deadline = ctx.ticks_add(ctx.ticks_ms(), timeout_ms)
        while True:
            while self.inbox:
                self.t_in = time.ticks_us()
                for m in self.dfr.feed(self.inbox.pop(0)):
                    self.inbox_msgs.append(m)
            if self.inbox_msgs:
                m = self.inbox_msgs.pop(0)
                if self.on_recv is not None:
                    self.on_recv(m)
                return m
            if self.peer.closed:
                raise StreamClosed("peer closed")
            if ctx.ticks_diff(deadline, ctx.ticks_ms()) <= 0:
                raise StreamTimeout("no V2GTP message within %d ms" % timeout_ms)
            await _Turn()

    async def send(self, ctx, payload_type, payload, timeout_ms=2000):
        if self.closed or self.peer.closed:
            raise StreamClosed("send on a closed link")
        self.peer.inbox.append(v2gtp.frame(payload_type, bytes(payload)))

    def close(self):
        self.closed = True

    def cipher(self):
        return None


def pair():
    a, b = MemEnd(), MemEnd()
    a.peer, b.peer = b, a
    return a, b


class Ctx:
    # The slice of the service ctx a session uses (its clock, feed, sleep); sleeping only hands over
    # the turn (no wall time passes in a bench), so the charge loop runs as fast as the two sides compute.
    ticks_ms = staticmethod(time.ticks_ms)
    ticks_diff = staticmethod(time.ticks_diff)
    ticks_add = staticmethod(time.ticks_add)
    is_restart = False

    def __init__(self):
        self.store = {}

    def feed(self):
        pass

    async def sleep_ms(self, ms):
        await _Turn()

    async def yield_(self):
        await _Turn()


def drive(coros, max_turns=1000000):
    # Runs the coroutines round-robin until all have returned; -> their return values.
    out = [None] * len(coros)
    live = list(range(len(coros)))
    turns = 0
    while live:
        for i in list(live):
            try:
                coros[i].send(None)
            except StopIteration as e:
                out[i] = e.value
                live.remove(i)
        turns += 1
        if turns > max_turns:
            raise RuntimeError("sessions did not finish in %d turns" % max_turns)
    return out
