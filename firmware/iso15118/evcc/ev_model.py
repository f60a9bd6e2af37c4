# The simulated EV behind our EVCC: battery, limits and the decisions an EV makes during a session
# (pre-charge done?, current to ask for, charge complete?). Units: V, A, W, Wh, %, ms; floats are
# fine here (one update per charge-loop message, not a hot path).

ENERGY_SERVICES = ("DC", "AC", "DC_BPT", "AC_BPT")
BPT_MODES = ("Scheduled", "Dynamic")


class EvModel:
    def __init__(self, capacity_wh=60000, soc=30, target_soc=80, max_v=450, max_i=125, max_p=50000,
                 min_v=300, full_v=400, loop_ms=100, loops=0, energy_service="DC", bpt_mode="Scheduled",
                 max_discharge_p=11000, max_discharge_i=25, ac_max_i=16, ac_min_i=6, ac_phases=3,
                 ac_v=230, precharge_tolerance_v=20, welding_v=20, welding_max=3, evcc_id="0A0B0C0D0E0F"):
        if energy_service not in ENERGY_SERVICES:
            raise ValueError("energy_service %s not one of %s" % (energy_service, ENERGY_SERVICES))
        if bpt_mode not in BPT_MODES:
            raise ValueError("bpt_mode %s not one of %s" % (bpt_mode, BPT_MODES))
        self.capacity_wh = capacity_wh
        self.soc = float(soc)           # %, integrated by update()
        self.target_soc = target_soc    # the charge ends when soc reaches it
        self.max_v = max_v
        self.max_i = max_i
        self.max_p = max_p
        self.min_v = min_v              # battery voltage at 0 % (linear to full_v at 100 %)
        self.full_v = full_v
        self.loop_ms = loop_ms          # pause between charge-loop requests (charge-loop pacing)
        self.loops = loops              # >0: stop after this many charge-loop requests
        self.energy_service = energy_service
        self.bpt_mode = bpt_mode
        self.max_discharge_p = max_discharge_p
        self.max_discharge_i = max_discharge_i
        self.ac_max_i = ac_max_i        # per phase
        self.ac_min_i = ac_min_i
        self.ac_phases = ac_phases
        self.ac_v = ac_v                # phase voltage assumed for AC energy
        self.precharge_tolerance_v = precharge_tolerance_v
        self.welding_v = welding_v      # EVSE output below this: welding detection done
        self.welding_max = welding_max  # at most this many WeldingDetectionReq
        self.evcc_id = evcc_id          # MAC address as hex (EVCCID)
        self.energy_wh = 0.0            # delivered into the battery this session (negative: discharged)
        self.loop_count = 0
        self.present_v = 0
        self.present_i = 0
        self.evse_max_i = None          # AC: EVSEMaxCurrent from the SECC

    @staticmethod
    def from_dict(cfg):
        return EvModel(**cfg)

    def as_dict(self):
        return {"soc": round(self.soc, 2), "energy_wh": round(self.energy_wh, 1), "loops": self.loop_count,
                "target_soc": self.target_soc, "energy_service": self.energy_service}

    def soc_int(self):
        s = int(self.soc)
        return 0 if s < 0 else (100 if s > 100 else s)

    def battery_v(self):
        return int(self.min_v + (self.full_v - self.min_v) * self.soc / 100)

    def target_v(self):
        return min(self.battery_v(), self.max_v)

    def target_i(self):
        v = self.target_v()
        i = self.max_i
        if v > 0 and v * i > self.max_p:
            i = self.max_p // v
        return 0 if self.charging_complete() else i

    def precharged(self, present_v):
        return abs(present_v - self.target_v()) <= self.precharge_tolerance_v

    def energy_request_wh(self):
        left = (self.target_soc - self.soc) * self.capacity_wh / 100
        return int(left) if left > 0 else 0

    def ac_current(self):
        # what the EV draws per phase in AC: its own maximum, capped by the EVSE's
        i = self.ac_max_i
        if self.evse_max_i is not None and self.evse_max_i < i:
            i = self.evse_max_i
        return i

    def charging_complete(self):
        if self.loops > 0 and self.loop_count >= self.loops:
            return True
        return self.soc >= self.target_soc

    def update(self, dt_ms, present_v, present_i):
        # One charge-loop step: dt_ms at present_v x present_i (positive = into the battery).
        self.present_v = present_v
        self.present_i = present_i
        wh = present_v * present_i * dt_ms / 3600000
        self.energy_wh += wh
        self.soc += wh * 100 / self.capacity_wh
        if self.soc > 100:
            self.soc = 100.0
        elif self.soc < 0:
            self.soc = 0.0
