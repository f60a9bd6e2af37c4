# What the SECC tells the EV about the charger: DC and AC limits and present output. One small object
# so that POWER_MGR can feed it (set_limits) without the session knowing where the numbers come from.
# Units: volts, amperes, watts as plain ints (DIN/-2 PhysicalValue with multiplier 0). AC current is
# per phase (EVSEMaxCurrent), AC voltage the nominal phase voltage (EVSENominalVoltage).

# Energy transfer modes ServiceDiscoveryRes offers (ISO 15118-2 names), in the charger's order.
AC_MODES = ("AC_three_phase_core", "AC_single_phase_core")
ALL_MODES = AC_MODES + ("DC_extended",)
# EIM authorization of the running session (ContractAuthentication / Authorization, all protocols):
# AUTH_WAIT answers EVSEProcessing=Ongoing until the gateway's authority (OCPP_CLIENT) decides;
# AUTH_NO answers FAILED and the session ends without power.
AUTH_NO = 0
AUTH_OK = 1
AUTH_WAIT = 2


class EvseLimits:
    def __init__(self, max_v=500, max_i=200, max_p=100000, min_v=150, min_i=0,
                 ripple_i=1, tolerance_i=5, energy_wh=0, evse_id="DE*JEZ*E0001",
                 ac_max_i=32, ac_nominal_v=230, modes=ALL_MODES):
        self.max_v = max_v
        self.max_i = max_i
        self.max_p = max_p
        self.min_v = min_v
        self.min_i = min_i
        self.ripple_i = ripple_i
        self.tolerance_i = tolerance_i
        self.energy_wh = energy_wh
        self.evse_id = evse_id
        self.ac_max_i = ac_max_i
        self.ac_nominal_v = ac_nominal_v
        self.modes = tuple(modes)
        # Set when the charger wants the EV to end the charge (shutdown, restart recovery): the next
        # status tells the EV EVSENotification=StopCharging (DC: EVSEStatusCode=EVSE_Shutdown too).
        self.stop_charging = False
        self.auth = AUTH_OK  # AUTH_*: set per session by the ISO15118 service
        self.evccid = ""  # the EV's EVCCID from SessionSetupReq (MAC address, hex), for Autocharge
        # Present output as measured by the converter. Until a measurement arrives (measure()), the
        # converter is taken as ideal: it delivers the clamped target (follow_target()).
        self.present_v = 0
        self.present_i = 0
        self.measured = False
        self.isolation_ok = True

    def set_limits(self, max_v=None, max_i=None, max_p=None, ac_max_i=None):
        if max_v is not None:
            self.max_v = max_v
        if max_i is not None:
            self.max_i = max_i
        if max_p is not None:
            self.max_p = max_p
        if ac_max_i is not None:
            self.ac_max_i = ac_max_i

    def ac_current(self, ev_max_i, phases):
        # Per-phase current the EV may draw: its own maximum, ours, and max_p shared over the phases.
        i = min(ev_max_i, self.ac_max_i)
        if self.ac_nominal_v > 0 and phases > 0:
            i = min(i, self.max_p // (self.ac_nominal_v * phases))
        return max(i, 0)

    def measure(self, v, i):
        self.present_v = v
        self.present_i = i
        self.measured = True

    def clamp(self, target_v, target_i):
        # -> (v, i, voltage_limited, current_limited, power_limited)
        v = min(max(target_v, 0), self.max_v)
        i = min(max(target_i, 0), self.max_i)
        p_lim = False
        if v > 0 and v * i > self.max_p:
            i = self.max_p // v
            p_lim = True
        return v, i, v < target_v, i < target_i and not p_lim, p_lim

    def follow_target(self, target_v, target_i):
        # The ideal converter: present output = clamped target (no-op once measured).
        if not self.measured:
            v, i, _, _, _ = self.clamp(target_v, target_i)
            self.present_v = v
            self.present_i = i
