# SLAC logic test helper (MicroPython): our EV and EVSE state machines wired together in virtual time
# (1 ms steps), with the EVSE's simulated modem (plc.SimModem) in between, and hooks to lose,
# duplicate or silence frames by name. No sockets: timeouts at every step run in milliseconds.
import plc
from slac import mme as m
from slac import evse as E
from slac import ev as V

EV_MAC = b"\x02\x00\x00\x00\x00\x01"
EVSE_MAC = b"\x02\x00\x00\x00\x00\x02"


class Clock:
    def __init__(self):
        self.now = 0

    def ticks_diff(self, a, b):
        return a - b

    def ticks_add(self, a, d):
        return a + d


class Pair:
    def __init__(self, atten=20, evse_threshold=40, ev_threshold=40, drop=None, dup=None):
        self.clock = Clock()
        self.drop = drop or {}       # {mmtype name: how many of them to lose}
        self.dup = dup or ()         # names sent twice
        self.to_ev = []
        self.to_evse = []
        self.log = []
        self.modem = plc.SimModem(EVSE_MAC, {EV_MAC: atten} if atten is not None else {}, True)
        self.evse = E.EvseSlac(EVSE_MAC, self._from_evse, self.clock, evse_threshold)
        self.ev = V.EvSlac(EV_MAC, self._from_ev, self.clock, ev_threshold)
        nmk = bytes(range(16))
        self.evse.set_key(m.nid_from_nmk(nmk), nmk)
        self.rx = m.Rx()
        self.buf = bytearray(m.MAX_FRAME)

    def _out(self, q, who, tx, n):
        name = m.mmtype_name(tx[15] | (tx[16] << 8))
        left = self.drop.get(name, 0)
        if left:
            self.drop[name] = left - 1
            self.log.append([self.clock.now, who, "lost", name])
            return
        self.log.append([self.clock.now, who, "tx", name])
        q.append(bytes(tx[:n]))
        if name in self.dup:
            q.append(bytes(tx[:n]))

    def _from_evse(self, tx, n):
        self._out(self.to_ev, "evse", tx, n)

    def _from_ev(self, tx, n):
        self._out(self.to_evse, "ev", tx, n)

    def sent(self, who, name):
        return [e[0] for e in self.log if e[1] == who and e[2] == "tx" and e[3] == name]

    def step(self):
        now = self.clock.now
        while self.to_evse:
            f = self.to_evse.pop(0)
            self.buf[:len(f)] = f
            self.modem.heard(self.buf, len(f))
            t = m.parse(self.rx, self.buf, len(f))
            if t >= 0:
                self.evse.on_frame(self.rx, t, now)
            n = self.modem.pop(self.buf)
            while n:
                t = m.parse(self.rx, self.buf, n)
                if t >= 0:
                    self.evse.on_frame(self.rx, t, now)
                n = self.modem.pop(self.buf)
        while self.to_ev:
            f = self.to_ev.pop(0)
            t = m.parse(self.rx, f, len(f))
            if t >= 0:
                self.ev.on_frame(self.rx, t, now)
        self.evse.poll(now)
        self.ev.poll(now)
        self.clock.now = now + 1

    def run(self, ms, until=None):
        end = self.clock.now + ms
        while self.clock.now < end:
            self.step()
            if until is not None and until(self):
                return True
        return False

    def start(self, ev=True):
        self.evse.enable(self.clock.now)
        if ev:
            self.ev.start(self.clock.now)
