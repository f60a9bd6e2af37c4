# The SECC's connection gate (docs/iso15118_connections.md). Every TCP/TLS connection to the V2G
# listeners is "pending" until it delivered a complete first message that admit() accepts (the
# session layer: a decodable supportedAppProtocolReq), then "ready" for the session layer, which
# makes it "live". The gate runs whenever the SECC waits - in accept() and in every receive of the
# live session - so SDP is answered and new connections are taken while a session is set up or
# runs: a connection that stalls, trickles or sends garbage never locks an EV out.
# Policy: a ready connection supersedes a live one that has not completed SessionSetup, and a stale one
# (silent for STALE_MS) from the live EV's own address (it lost its connection and started over with
# SDP); while a session is established, other addresses are refused at accept() and not answered in
# SDP, and so is the same address while the live session is not stale.
from micropython import const
from iso15118.transport import v2gtp
from iso15118.transport.stream import StreamClosed, StreamSlow

FIRST_BYTE_MS = const(3000)   # accept -> first byte (TLS: first byte after the handshake)
SAP_MS = const(5000)          # accept -> complete supportedAppProtocolReq
MAX_PENDING = const(4)        # pending connections at once; a new one closes the oldest
ACCEPT_BURST = const(8)       # connections taken from one listener per wake-up: bounded work per step
BACKLOG = const(8)            # listen() backlog
SAP_MAX_PAYLOAD = const(2560)  # 20 AppProtocol entries with 100-character namespaces: ~2.3 KB of EXI
WAIT_MS = const(200)
STALE_MS = const(2000)        # an established session silent this long may be superseded by its own EV

C_ACCEPTED = const(0)
C_REFUSED = const(1)      # another address while a session is established
C_EVICTED = const(2)      # oldest pending connection closed for a new one
C_NO_BYTE = const(3)      # nothing within FIRST_BYTE_MS (idle, half-open, stalled TLS handshake)
C_NO_SAP = const(4)       # no complete first message within SAP_MS
C_SLOW = const(5)         # a message incomplete stream.MSG_MS after its first byte
C_BAD = const(6)          # framing error, TLS failure, or a first message admit() rejects
C_CLOSED = const(7)       # the peer closed or reset before its first message
C_SUPERSEDED = const(8)   # a live or ready connection replaced by a newer one
C_ADMITTED = const(9)     # connections handed to the session layer
COUNTER_NAMES = ("accepted", "refused", "evicted", "no_first_byte", "no_sap", "slow", "bad", "closed",
                 "superseded", "admitted")


class _Pending:
    def __init__(self, st, t):
        self.st = st
        self.t = t


class Gate:
    # listeners: [Listener]; admit(payload) -> True for an acceptable first message on 0x8001, or
    # None: every connection is handed out at once, unread (the transport tests' raw frames).
    def __init__(self, sdp_server, listeners, admit=None):
        self.sdp = sdp_server
        self.listeners = listeners
        self.admit = admit
        self.pending = []
        self.ready = None
        self.live = None
        self.counts = [0] * len(COUNTER_NAMES)
        self.last_drop = ""
        self.peak_pending = 0

    def objs(self, live_sock):
        # what the SECC waits on: SDP, the listeners, the pending connections, the live one
        o = [self.sdp.sock]
        for lt in self.listeners:
            o.append(lt.sock)
        for p in self.pending:
            o.append(p.st.sock)
        if live_sock is not None:
            o.append(live_sock)
        return o

    def wait_ms(self, ctx, w):
        # w, or less when a pending connection's deadline comes first
        now = ctx.ticks_ms()
        for p in self.pending:
            if p.st.stepping:
                return 0  # a TLS handshake's next state is ready: run it after the other services' turn
            age = ctx.ticks_diff(now, p.t)
            left = (FIRST_BYTE_MS if p.st.rx_bytes == 0 else SAP_MS) - age
            if left < w:
                w = left
        return w if w > 1 else 1

    def take(self):
        # -> the next admitted connection (it becomes the live one) or None
        st = self.ready
        if st is not None:
            self.ready = None
            if self.admit is not None:  # unread hand-outs are the caller's alone
                self.live = st
        return st

    def housekeep(self, ctx):
        # Never blocks: SDP, new connections, pending connections' bytes and deadlines.
        live = self.live
        if live is not None and live.closed:
            self.live = live = None
        est = live if live is not None and live.established else None
        only = None
        if est is not None:
            # while a session is established only its own EV may discover us again, and only once
            # the session went stale (it lost its connection); b"": no address, nobody is answered
            only = est.remote[0] if self._stale(ctx, est) else b""
        self.sdp.only = only
        self.sdp.poll()
        for lt in self.listeners:
            for _ in range(ACCEPT_BURST):
                if self.admit is None and self.ready is not None:
                    break  # unread hand-out: one connection at a time, in arrival order
                try:
                    a = lt.accept_raw()
                except OSError as e:  # ECONNABORTED, EMFILE: this attempt is lost, not the listener
                    self._count(C_CLOSED, "accept: %s" % e)
                    break
                if a is None:
                    break
                self._take(lt, a, est, ctx)
        if self.pending:
            self._serve(ctx)

    def _stale(self, ctx, live):
        return live.rx_ms is None or ctx.ticks_diff(ctx.ticks_ms(), live.rx_ms) >= STALE_MS

    def _count(self, c, why):
        self.counts[c] += 1
        if c != C_ADMITTED and c != C_ACCEPTED:
            self.last_drop = COUNTER_NAMES[c] + ": " + why

    def _take(self, lt, a, est, ctx):
        s, peer = a
        self.counts[C_ACCEPTED] += 1
        if est is not None and peer[0] != est.remote[0]:
            s.close()  # one EV per charging point: the established session is not disturbed
            self._count(C_REFUSED, "a session is established with another EV")
            return
        try:
            st = lt.stream(s, peer, SAP_MAX_PAYLOAD if self.admit is not None else v2gtp.MAX_PAYLOAD)
        except (OSError, ValueError) as e:
            s.close()
            self._count(C_BAD, str(e))
            return
        if self.admit is None:
            self._promote(st, ctx)
            return
        self.pending.append(_Pending(st, ctx.ticks_ms()))
        if len(self.pending) > MAX_PENDING:
            self._drop(self.pending[0], C_EVICTED, "%d connections pending" % MAX_PENDING)
        if len(self.pending) > self.peak_pending:
            self.peak_pending = len(self.pending)

    def _drop(self, p, c, why):
        self.pending.remove(p)
        p.st.close()
        self._count(c, why)

    def _serve(self, ctx):
        hs = True  # one TLS handshake state per wake-up, whatever the number of pending handshakes
        for p in list(self.pending):
            st = p.st
            try:
                was = st.hs
                m = st.poll_msg(ctx, hs)
                if was and hs and (st.stepping or not st.hs):
                    hs = False  # a state ran (one waiting for the peer costs nothing)
            except StreamSlow as e:
                self._drop(p, C_SLOW, str(e))
                continue
            except StreamClosed as e:
                self._drop(p, C_CLOSED, str(e))
                continue
            except (OSError, ValueError) as e:  # V2GTPError, a TLS alert or failure
                self._drop(p, C_BAD, str(e))
                continue
            if m is None:
                age = ctx.ticks_diff(ctx.ticks_ms(), p.t)
                if st.rx_bytes == 0 and age >= FIRST_BYTE_MS:
                    self._drop(p, C_NO_BYTE, "nothing %d ms after connect" % age)
                elif age >= SAP_MS:
                    self._drop(p, C_NO_SAP, "no supportedAppProtocolReq %d ms after connect" % age)
                continue
            if m[0] != v2gtp.PT_SAP or not self.admit(m[1]):
                self._drop(p, C_BAD, "first message (type 0x%04x, %d bytes) is no supportedAppProtocolReq"
                           % (m[0], len(m[1])))
                continue
            self.pending.remove(p)
            st.held = m
            self._promote(st, ctx)

    def _promote(self, st, ctx):
        live = self.live
        if self.admit is not None:
            st.watch = self
        if live is not None and not live.closed:
            if live.established and live.remote[0] != st.remote[0]:
                st.close()  # established after this one connected
                self._count(C_REFUSED, "a session is established with another EV")
                return
            if live.established and not self._stale(ctx, live):
                # the live EV is talking on its connection: a second one from its address is not it
                # starting over (on loopback every peer has the same address)
                st.close()
                self._count(C_REFUSED, "the established session is not stale")
                return
            if self.admit is not None:
                live.superseded = True  # its session ends at its next receive
                self._count(C_SUPERSEDED, "live connection replaced by a newer one")
        if self.ready is not None:
            self.ready.close()
            self._count(C_SUPERSEDED, "admitted connection replaced by a newer one")
        self.ready = st
        self._count(C_ADMITTED, "")

    def close(self):
        for p in self.pending:
            p.st.close()
        self.pending = []
        if self.ready is not None:
            self.ready.close()
            self.ready = None

    def stats(self):
        d = {"pending": len(self.pending), "peak_pending": self.peak_pending, "last_drop": self.last_drop}
        for i, n in enumerate(COUNTER_NAMES):
            d[n] = self.counts[i]
        return d
