# The EVCC state scheme shared by the DIN and -2 machines: one class per state. A state sends one
# request (`request`, built by `body()`), classifies the response (`outcome()`), and its `next`
# table maps that outcome to the following state (the same class: repeat, None: session over).
# Sequence timers a state runs under are named in `timers`; started at the state's first request,
# they cut the message timeouts and end the session when they expire.
from iso15118.evcc import timeouts
from iso15118.evcc.exchange import Deadline, EvccEnd, END_FAILED, END_MALFORMED
from iso15118.values import pv_value

SLICE_MS = 200   # the EV's pauses are cut into slices that feed the service watchdog (1 s)

EVSE_STOP_CODES = ("EVSE_Shutdown", "EVSE_EmergencyShutdown", "EVSE_UtilityInterruptEvent", "EVSE_Malfunction")


class SessionData:
    # What one EVCC session knows besides the EV: the SECC's offers and limits, running timers.
    def __init__(self, ctx, x, ev):
        self.ctx = ctx
        self.x = x
        self.ev = ev
        self.timers = {}          # timer name -> Deadline, started at first use
        self.service_id = 1
        self.transfer = None      # energy transfer type/mode agreed
        self.sa_id = None         # -2: SAScheduleTupleID chosen from ChargeParameterDiscoveryRes
        self.evse_max_v = None
        self.evse_max_i = None
        self.evse_max_p = None
        self.welding = 0          # WeldingDetectionReq sent
        self.last_ms = None       # kernel ms of the previous charge-loop response
        self.stop_reason = ""     # why the EV ended the charge loop

    def running(self, names):
        out = []
        for name, limit in names:
            t = self.timers.get(name)
            if t is None:
                t = self.timers[name] = Deadline(self.ctx, name, limit)
            out.append(t)
        return out

    def stop_timer(self, name):
        self.timers.pop(name, None)

    def evse_limits(self, p):
        # DC_EVSEChargeParameter -> our copy; the EV cannot charge below its battery voltage.
        self.evse_max_v = pv_value(p["EVSEMaximumVoltageLimit"])
        self.evse_max_i = pv_value(p["EVSEMaximumCurrentLimit"])
        if "EVSEMaximumPowerLimit" in p:
            self.evse_max_p = pv_value(p["EVSEMaximumPowerLimit"])
        if self.evse_max_v < self.ev.target_v():
            raise EvccEnd(END_FAILED, "EVSE maximum %d V is below the battery's %d V" %
                          (self.evse_max_v, self.ev.target_v()))

    def target_i(self):
        # The EV's wish capped by what the EVSE announced.
        ev = self.ev
        i = ev.target_i()
        if self.evse_max_i is not None and i > self.evse_max_i:
            i = self.evse_max_i
        v = ev.target_v()
        if self.evse_max_p is not None and v > 0 and v * i > self.evse_max_p:
            i = self.evse_max_p // v
        return i

    def loop_step(self, present_v, present_i):
        # A charge-loop response arrived: integrate the energy since the previous one.
        k = self.ctx
        now = k.ticks_ms()
        if self.last_ms is not None:
            self.ev.update(k.ticks_diff(now, self.last_ms), present_v, present_i)
        self.last_ms = now
        self.ev.loop_count += 1

    def loop_over(self):
        return self.ev.charging_complete()

    def loop_end(self, evse_stop, why):
        # A charge-loop response classified, for every protocol: "stop" when the EVSE asks for it
        # (`why`: what it said, for the detail) or the EV is done (loop_over), else "again".
        if evse_stop:
            self.stop_reason = "EVSE: %s" % why
            return "stop"
        if self.loop_over():
            self.stop_reason = "complete"
            return "stop"
        return "again"


class State:
    request = ""
    timers: tuple = ()
    loop = False         # repeated by the EV's pacing (EvModel.loop_ms) rather than at once
    pace_max_ms: int | None = None   # -20 only: cap on that pause (None: loop_ms); drive() here has none
    next: dict = {}

    def body(self, d):
        return {}

    def outcome(self, d, res, hdr):
        return "ok"


def processing(res):
    return "Finished" if res.get("EVSEProcessing") == "Finished" else "Ongoing"


def evse_wants_stop(st):
    return st.get("EVSEStatusCode") in EVSE_STOP_CODES or st.get("EVSENotification") == "StopCharging"


ONGOING = "Ongoing"


async def pause(ctx, ms):
    if ms > timeouts.SEQUENCE_PERFORMANCE_MS:
        ms = timeouts.SEQUENCE_PERFORMANCE_MS
    k = ctx
    end = k.ticks_add(k.ticks_ms(), ms)
    while True:
        ctx.feed()
        left = k.ticks_diff(end, k.ticks_ms())
        if left <= 0:
            return
        await ctx.sleep_ms(left if left < SLICE_MS else SLICE_MS)


async def drive(ctx, d, g, first, msg_ms):
    # Runs states from `first` until one's table says None. EvccEnd ends the session early.
    state = first
    prev = None
    out = None
    while state is not None:
        s = state()
        if state is prev and (s.loop or out == ONGOING):
            # the charge loop's period; an Ongoing answer (the SECC waits for the driver's or the
            # back office's authorization) is asked again at the same pace, not in a tight loop
            await pause(ctx, d.ev.loop_ms)
        res, hdr = await d.x.v2g(g, s.request, s.body(d), msg_ms[s.request], d.running(s.timers))
        prev = state
        try:
            out = s.outcome(d, res, hdr)
        except (KeyError, TypeError, IndexError) as e:
            # decodable, but without what this protocol's response must carry here (e.g. AC
            # parameters answering a DC request): nothing sensible to continue with
            raise EvccEnd(END_MALFORMED, "%s lacks %s: %r" % (s.request[:-3] + "Res", type(e).__name__, e))
        state = s.next[out]
