# The station-controller protocol (spec §8.2, canbus/station.dbc) without IPC and without a board:
# the gateway's frames built from its state (raw values per docs/can.md) and STATION_CMD checked
# (length, CRC, rolling counter, values) and held until its timeout. CAN_HANDLER is the glue.
# Every bad frame has a counter and is dropped; nothing here raises on input. Nothing allocates per
# frame: raw values go through preallocated arrays, frames through one 64-byte buffer.
import array
from micropython import const
from canbus import codec
from canbus import tables as T
from jezgro import shared
from power import status as S

# STATION_CMD check results (>= 0: accepted)
ACCEPTED = const(0)
E_LENGTH = const(-1)  # not 16 bytes: a classic frame or another layout
E_CRC = const(-2)
E_STALE = const(-3)  # the counter did not advance: a stuck or replayed frame
E_COUNTER = const(-4)  # the counter jumped by more than MAX_STEP: resynchronised, dropped
E_VALUE = const(-5)  # mode or timeout outside the DBC's range

MODE_POWER = const(1)  # P and Q setpoints apply
MODE_STANDBY = const(2)  # the station commands zero power
TIMEOUT_MIN_MS = const(100)
TIMEOUT_MAX_MS = const(60000)
MAX_STEP = const(3)  # up to two lost frames between accepted ones are tolerated (and counted)
P_MAX_W = const(1000000)
CLAMP16 = const(32767)
LIM24 = const(0xFFFFFF)
EMERG_SHOW_MS = const(1000)  # GW_STATUS GridEmergency stays set this long after the last one


def _round10(x):
    # W -> the 10 W units of GW_STATUS, rounded, clamped to int16
    r = (x + 5) // 10 if x >= 0 else -((5 - x) // 10)
    return CLAMP16 if r > CLAMP16 else (-CLAMP16 - 1 if r < -CLAMP16 - 1 else r)


class Link:
    def __init__(self):
        self.buf = bytearray(64)
        # raw values, one array('i') per message, one int per signal
        (self.v_status, self.v_pll, self.v_power, self.v_v2g, self.v_fault, self.v_cmd) = [
            array.array("i", bytes(4 * (len(sigs) // 3))) for sigs in
            (T.GW_STATUS_SIGS, T.GW_PLL_SIGS, T.GW_POWER_SIGS, T.GW_V2G_SIGS, T.GW_FAULT_SIGS, T.STATION_CMD_SIGS)]
        # the command in force: its setpoints, mode, timeout and deadline (ticks_ms)
        self.has_cmd = False
        self.p_w = self.q_var = self.mode = self.timeout_ms = self.until = 0
        self.last_counter = -1
        self.expired_flag = False  # GW_STATUS CmdExpired: set at expiry, cleared by the next valid command
        # counters (lost: frames the counter says never arrived)
        self.accepted = self.bad_length = self.bad_crc = self.stale = self.bad_counter = self.bad_value = 0
        self.lost = self.expired = 0
        self.fault_seq = self.emerg_seen = self.emerg_ms = 0

    # --- STATION_CMD ---------------------------------------------------------------------------
    def command(self, data, n, now, ticks_add):
        # -> ACCEPTED (the command is in p_w, q_var, mode, timeout_ms until `until`) or an E_* code
        if n != T.STATION_CMD_LEN:
            self.bad_length += 1
            return E_LENGTH
        if codec.crc8(T.STATION_CMD, data, 15) != data[15]:
            self.bad_crc += 1
            return E_CRC
        v = self.v_cmd
        codec.unpack(data, T.STATION_CMD_SIGS, v)
        c = v[T.STATION_CMD_COUNTER]
        if self.last_counter >= 0:
            step = (c - self.last_counter) & 15
            if step == 0:
                self.stale += 1
                return E_STALE
            if step > MAX_STEP:
                self.last_counter = c  # resynchronise: the next frame in sequence is accepted
                self.bad_counter += 1
                return E_COUNTER
        mode = v[T.STATION_CMD_MODE]
        t = v[T.STATION_CMD_TIMEOUT]
        p = v[T.STATION_CMD_POWER_SETPOINT]
        q = v[T.STATION_CMD_REACTIVE_SETPOINT]
        if (mode != MODE_POWER and mode != MODE_STANDBY) or not TIMEOUT_MIN_MS <= t <= TIMEOUT_MAX_MS \
                or not -P_MAX_W <= p <= P_MAX_W or not -P_MAX_W <= q <= P_MAX_W:
            self.last_counter = c  # a well-formed frame in sequence, but not a command we follow
            self.bad_value += 1
            return E_VALUE
        if self.last_counter >= 0:
            self.lost += ((c - self.last_counter) & 15) - 1
        self.last_counter = c
        self.mode = mode
        self.p_w = p if mode == MODE_POWER else 0
        self.q_var = q if mode == MODE_POWER else 0
        self.timeout_ms = t
        self.until = ticks_add(now, t)
        self.has_cmd = True
        self.expired_flag = False
        self.accepted += 1
        return ACCEPTED

    def expire(self, now, ticks_diff):
        # -> True once, when the command in force runs out without a valid successor
        if self.has_cmd and ticks_diff(now, self.until) >= 0:
            self.has_cmd = False
            self.expired_flag = True
            self.expired += 1
            return True
        return False

    # --- the gateway's frames: each returns its length, the payload in self.buf -------------------
    def _frame(self, sigs, vals, n):
        b = self.buf
        i = 0
        while i < n:
            b[i] = 0
            i += 1
        codec.pack(b, sigs, vals)
        return n

    def status(self, gw, pll, bus_passive, now, ticks_diff):
        # gw: power/status.GW; pll: a shared.PLL snapshot (jezgro/shared.py formats)
        v = self.v_status
        st = gw[S.STATE]
        if gw[S.EMERG] != self.emerg_seen:
            self.emerg_seen = gw[S.EMERG]
            self.emerg_ms = now
        v[T.GW_STATUS_GW_STATE] = st
        v[T.GW_STATUS_SAFE_STATE] = 1 if st == 6 else 0  # gateway_fsm.SAFE
        v[T.GW_STATUS_SERVICE_HELD] = 1 if gw[S.HELD] else 0
        v[T.GW_STATUS_GRID_EMERGENCY] = 1 if self.emerg_seen and ticks_diff(now, self.emerg_ms) < EMERG_SHOW_MS else 0
        v[T.GW_STATUS_CMD_EXPIRED] = 1 if self.expired_flag else 0
        v[T.GW_STATUS_CAN_ERROR_PASSIVE] = 1 if bus_passive else 0
        # Q16 rad/s -> mHz: f = w / 2pi; (w >> 6) keeps the product under 2^30 (w < 2^25 up to 80 Hz)
        f = ((pll[shared.OMEGA] >> 6) * 1000) // 6434 if pll[shared.OMEGA] > 0 else 0
        v[T.GW_STATUS_GRID_FREQ] = f if f < 65535 else 65535
        v[T.GW_STATUS_P] = _round10(gw[S.P_MEAS])
        v[T.GW_STATUS_Q] = _round10(gw[S.Q_MEAS])
        return self._frame(T.GW_STATUS_SIGS, v, T.GW_STATUS_LEN)

    def pll(self, pll):
        v = self.v_pll
        v[T.GW_PLL_THETA] = (pll[shared.THETA] >> 16) & 0xFFFF  # the top 16 bits of the accumulator
        v[T.GW_PLL_OMEGA] = pll[shared.OMEGA]
        v[T.GW_PLL_VD] = pll[shared.VD]
        v[T.GW_PLL_VQ] = pll[shared.VQ]
        v[T.GW_PLL_LOCKED] = 1 if pll[shared.LOCKED] else 0
        return self._frame(T.GW_PLL_SIGS, v, T.GW_PLL_LEN)

    def power(self, gw):
        v = self.v_power
        v[T.GW_POWER_P_ACTUAL] = gw[S.P_MEAS]
        v[T.GW_POWER_Q_ACTUAL] = gw[S.Q_MEAS]
        lim = gw[S.IMP_LIM]
        v[T.GW_POWER_IMPORT_LIMIT] = lim if lim < LIM24 else LIM24
        lim = gw[S.EXP_LIM]
        v[T.GW_POWER_EXPORT_LIMIT] = lim if lim < LIM24 else LIM24
        v[T.GW_POWER_IMPORT_LIMIT_SRC] = gw[S.IMP_SRC] & 15
        v[T.GW_POWER_EXPORT_LIMIT_SRC] = gw[S.EXP_SRC] & 15
        v[T.GW_POWER_SETPOINT_SRC] = gw[S.SET_SRC] & 15
        return self._frame(T.GW_POWER_SIGS, v, T.GW_POWER_LEN)

    def v2g(self, gw, enabled, soc, energy_wh):
        # soc: % or -1 when unknown (sent as 255)
        v = self.v_v2g
        v[T.GW_V2G_V2G_ENABLED] = 1 if enabled else 0
        v[T.GW_V2G_SESSION_LEVEL] = gw[S.SESSION] & 3
        v[T.GW_V2G_PROTOCOL] = gw[S.PROTOCOL] & 15
        v[T.GW_V2G_EV_SOC] = soc if 0 <= soc <= 100 else 255
        v[T.GW_V2G_ENERGY] = energy_wh
        v[T.GW_V2G_SESSION_SERIAL] = gw[S.SERIAL] & 0xFFFF
        return self._frame(T.GW_V2G_SIGS, v, T.GW_V2G_LEN)

    def fault(self, code, sid, cause, t_ms):
        v = self.v_fault
        self.fault_seq = (self.fault_seq + 1) & 0xFF
        v[T.GW_FAULT_FAULT_CODE] = code & 0xFF
        v[T.GW_FAULT_SERVICE] = sid & 0xFF
        v[T.GW_FAULT_CAUSE] = cause & 0xFF
        v[T.GW_FAULT_SEQ] = self.fault_seq
        v[T.GW_FAULT_TIME_MS] = t_ms & 0x3FFFFFFF
        return self._frame(T.GW_FAULT_SIGS, v, T.GW_FAULT_LEN)

    def counters(self):
        return {"accepted": self.accepted, "bad_length": self.bad_length, "bad_crc": self.bad_crc,
                "stale": self.stale, "bad_counter": self.bad_counter, "bad_value": self.bad_value,
                "lost": self.lost, "expired": self.expired}
