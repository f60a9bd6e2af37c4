# SLAC (MEDIUM, 32 KB, 500 ms watchdog): the control pilot and ISO 15118-3 matching (msgs/catalogue.py):
#   out CP_STATE (ISO15118, OCPP_CLIENT, POWER_MGR) on every debounced pilot change: the level, the duty
#       we drive, the cable's PP rating and the plug-in number. A (unplug), E and F go with priority.
#   out SLAC_LINK (ISO15118, OCPP_CLIENT): up once an EV matched and joined our logical network, down when
#       it is unplugged or the link is lost. The SECC listens and answers SDP only while it is up.
# The pilot (slac/pilot.py) is sampled every POLL_MS through the board (board.pilot_sample): plug-in
# (A -> B) sets 5 % PWM and enables matching (slac/evse.py) on the PLC modem's host interface
# (board.plc_open); unplug stops it and gives the modem a fresh NMK/NID, so the car that left cannot
# rejoin. A car that stays in B without starting SLAC gets the B2-B1-B2 wake-up; matching that times
# out (TT_EVSE_SLAC_init) leads to state F for T_step_EF and a new start.
# Without <fs>/slac.json the service runs the pilot only. A restarted incarnation re-keys the modem
# before anything else (no stale NID), tells ISO15118 the link is down if it was up, and matches again.
from micropython import const
import array
import os
import board
import msgs
from msgs import CP_A, CP_B, CP_C, CP_D, CP_NAMES
from slac import mme as m
from slac import evse as E
from slac import pilot as P
from slac import timers as T
from slac import service_config as conf

POLL_MS = const(10)           # pilot sampling and frame handling period (debounce: 3 samples)
CONFIG_RETRY_MS = const(5000)
KEY_WAIT_MS = const(500)      # CM_SET_KEY.CNF awaited this long, then matching goes on (pyslac: 10 s)
WAKE_B1_MS = const(1000)      # the B1 (no PWM) part of the wake-up
HISTORY = const(16)           # CP transitions kept for the status


class SlacService:
    def __init__(self, ctx, cfg, store):
        self.ctx = ctx
        self.cfg = cfg
        self.dst_cp = [s for s in (ctx.sid_of("ISO15118"), ctx.sid_of("OCPP_CLIENT"), ctx.sid_of("POWER_MGR"))
                       if s >= 0]
        self.dst_link = [s for s in (ctx.sid_of("ISO15118"), ctx.sid_of("OCPP_CLIENT")) if s >= 0]
        self.pilot = P.Pilot()
        self.pilot.level = store.get("cp", CP_A)        # the car did not move because we restarted
        self.serial = store.get("serial", 0)
        self.connected = store.get("connected", False)
        self.t0 = store.get("t0", ctx.ticks_ms())       # CP history times: ms since the first start
        self.history = store.get("history", [])
        self.sample = array.array("i", [0, 0])
        self.duty = store.get("duty", P.DUTY_OFF)
        self.pp_a = 0
        self.rx = m.Rx()
        self.buf = bytearray(m.MAX_FRAME)
        self.link = None
        self.link_error = None
        self.evse = None
        self.up = False
        self.key_sent = 0
        self.key_ok = False
        self.keys = store.get("keys", 0)   # modem keys set since boot (all incarnations)
        self.wake_at = None     # ticks when the B1 part of a wake-up ends
        self.wakeups = 0
        self.f_until = None     # ticks when the F after a failed matching ends
        self.b_since = 0
        self.matches = []
        self.send_errors = 0
        self.nonce = bytearray(4)
        if cfg is not None:
            self._open(cfg)

    def _open(self, cfg):
        pcap = self.ctx.fs_root + "/" + cfg["pcap"] if cfg["pcap"] else None
        try:
            self.link = board.plc_open(cfg["iface"], cfg["mac_b"], cfg["atten_b"], True, pcap)
        except OSError as e:
            self.link_error = str(e)   # the pilot still runs; SLAC cannot
            return
        self.evse = E.EvseSlac(self.link.mac, self._send, self.ctx, cfg["threshold_db"])

    def _send(self, tx, n):
        lk = self.link
        if lk is None or not lk.send(tx, n):
            self.send_errors += 1

    def rekey(self):
        # a fresh NMK and its NID for the modem: every session's network is new, and a restart never
        # leaves the modem in the network of a car that already left
        ev = self.evse
        lk = self.link
        if ev is None or lk is None:
            return
        nmk = os.urandom(m.NMK_LEN)
        ev.set_key(m.nid_from_nmk(nmk), nmk)
        self.nonce[:] = os.urandom(4)
        self.key_ok = False
        self.key_sent = self.ctx.ticks_ms()
        self.keys += 1
        self._send(ev.tx, m.build_set_key_req(ev.tx, lk.mac, self.cfg["modem_b"], ev.nid, ev.nmk,
                                              self.nonce))

    # -- pilot ---------------------------------------------------------------------------------------
    def drive(self, permille):
        if permille != self.duty:
            self.duty = permille
            board.pilot_pwm(permille)

    def step_pilot(self, now):
        board.pilot_sample(self.sample)
        pwm_on = 0 < self.duty < P.DUTY_OFF
        if self.pilot.sample(self.sample[0], self.sample[1], pwm_on):
            self.on_cp(self.pilot.level, now)

    def on_cp(self, level, now):
        if level in (CP_B, CP_C, CP_D):
            if not self.connected:
                self.connected = True
                self.serial += 1
                self.b_since = now
                pp = board.pp_ohms()
                self.pp_a = P.pp_rating(pp) if pp else 0
                self.drive(P.DUTY_DIGITAL if self.evse is not None or not self.cfg_nominal() else
                           P.duty_for_current(self.cfg_nominal()))
                if self.evse is not None:
                    self.evse.enable(now)
        else:
            # A: unplugged, E: short / no diode, F: ours. Whatever was matched is over.
            self.connected = False
            self.drive(P.DUTY_OFF if level == CP_A else self.duty)
            self.pp_a = 0
            self.wake_at = None
            if self.evse is not None:
                self.evse.disable()
                self.rekey()
        self.history.append([self.ctx.ticks_diff(now, self.t0), CP_NAMES[level], self.duty])
        if len(self.history) > HISTORY:
            self.history.pop(0)
        for d in self.dst_cp:
            if msgs.send_cp_state(self.ctx, d, level, self.duty, self.pp_a, self.serial) != 0:
                self.send_errors += 1
        if not self.connected:
            self._link(False)    # after CP_STATE: the session ends for the unplug, not a lost link

    def cfg_nominal(self):
        return self.cfg["nominal_a"] if self.cfg is not None else 0

    # -- SLAC ------------------------------------------------------------------------------------------
    def frames(self, now, lk, ev):
        n = lk.recv(self.buf)
        while n:
            t = m.parse(self.rx, self.buf, n)
            if t == m.CM_SET_KEY | m.CNF:
                # some QCA firmware reports success as 1: any confirmation means the modem has the key
                self.key_ok = True
            elif t >= 0:
                ev.on_frame(self.rx, t, now)
            n = lk.recv(self.buf)

    def step_slac(self, now):
        ev = self.evse
        lk = self.link
        if ev is None or lk is None:
            return
        self.frames(now, lk, ev)
        ev.poll(now)
        lv = self.pilot.level
        connected = lv == CP_B or lv == CP_C or lv == CP_D
        if ev.state == E.MATCHED and not self.up:
            # the simulated modem has the EV in its network at once; a real one is asked
            # (VS_NW_INFO) by the board's modem driver: docs/slac.md
            ev.link_up()
            self.matches.append({"serial": self.serial, "ms": ev.match_ms, "atten_db": ev.atten,
                                 "ev_mac": ":".join(["%02x" % x for x in ev.ev_mac])})
            if len(self.matches) > 4:
                self.matches.pop(0)
            self._link(True)
        elif ev.state == E.FAILED and connected and self.f_until is None:
            # no match within TT_EVSE_SLAC_init: state F for T_step_EF, then 5 % again (ISO 15118-3 [V2G3-M07-07])
            self.f_until = self.ctx.ticks_add(now, T.T_STEP_EF)
            self.drive(P.DUTY_F)
        elif self.f_until is not None and self.ctx.ticks_diff(now, self.f_until) >= 0:
            self.f_until = None
            self.drive(P.DUTY_DIGITAL)
            ev.enable(now)
        self._wake(now, ev, connected)

    def _wake(self, now, ev, connected):
        # B2-B1-B2: a car asleep in B does not start SLAC; PWM off for WAKE_B1_MS wakes it
        if self.wake_at is not None:
            if self.ctx.ticks_diff(now, self.wake_at) >= 0:
                self.wake_at = None
                self.drive(P.DUTY_DIGITAL)
                self.b_since = now
        elif connected and ev.state == E.UNMATCHED and self.duty == P.DUTY_DIGITAL \
                and self.ctx.ticks_diff(now, self.b_since) >= self.cfg["wake_after_ms"]:
            self.wake_at = self.ctx.ticks_add(now, WAKE_B1_MS)
            self.wakeups += 1
            self.drive(P.DUTY_OFF)

    def _link(self, up):
        if up == self.up:
            return
        self.up = up
        atten = self.evse.atten if self.evse is not None and up else 0
        for d in self.dst_link:
            if msgs.send_slac_link(self.ctx, d, up, atten, self.serial) != 0:
                self.send_errors += 1

    def save(self, store):
        store.set("cp", self.pilot.level)
        store.set("serial", self.serial)
        store.set("duty", self.duty)
        store.set("connected", self.connected)
        store.set("keys", self.keys)

    def status(self):
        lk = self.link
        return {"cp": CP_NAMES[self.pilot.level], "duty_permille": self.duty, "pp_a": self.pp_a,
                "plug_serial": self.serial, "cp_history": self.history, "link_up": self.up,
                "slac": self.evse.status() if self.evse is not None else None,
                "matches": self.matches, "keys_set": self.keys,
                "nid": "".join(["%02x" % x for x in self.evse.nid]) if self.evse is not None else None, "key_confirmed": self.key_ok,
                "wakeups": self.wakeups, "plc": lk.stats() if lk is not None else None,
                "plc_error": self.link_error, "codec_errors": self.rx.error_counts(),
                "frames": self.rx.frames, "send_errors": self.send_errors,
                "diode_faults": self.pilot.diode_faults}


async def main(ctx):
    store = ctx.store
    old = store.get("svc")
    if old is not None and old.link is not None:
        old.link.close()          # the previous incarnation's socket
    was_up = old is not None and old.up
    cfg = await ctx.configure(lambda: conf.load(ctx.fs_root), conf.ConfigError, CONFIG_RETRY_MS)
    svc = SlacService(ctx, cfg, store)
    store.set("svc", svc)
    store.set("history", svc.history)
    store.set("t0", svc.t0)
    ctx.publish(svc)
    svc.rekey()
    if was_up:
        svc.up = True
        svc._link(False)          # ISO15118 must not trust a link we no longer vouch for
    lv = svc.pilot.level
    if svc.evse is not None and (lv == CP_B or lv == CP_C or lv == CP_D):
        svc.drive(P.DUTY_DIGITAL)
        svc.evse.enable(ctx.ticks_ms())   # matching starts over under the new key
    sock = svc.link.sock if svc.link is not None else None
    while True:
        ctx.feed()
        now = ctx.ticks_ms()
        svc.step_pilot(now)
        svc.step_slac(now)
        svc.save(store)
        if sock is not None:
            await ctx.wait_io(sock, 1, POLL_MS)    # select.POLLIN
        else:
            await ctx.sleep_ms(POLL_MS)
