# IEC 61851-1 control pilot, EVSE side: the state (A..F) from the measured pilot voltage, with
# hysteresis and debouncing, the PWM duty the EVSE drives, and the proximity pilot's cable rating.
# No hardware here: the SLAC service samples board.pilot_sample() and drives board.pilot_pwm().
#
# Levels (Table A.4, the positive plateau, +-1 V nominal bands): A 12 V no EV, B 9 V EV connected,
# C 6 V charging, D 3 V charging with ventilation, E 0 V short/no pilot, F -12 V (EVSE fault, driven by
# us). A reading must stay inside a band (minus HYST_MV at each edge) for DEBOUNCE samples before the
# state changes; readings between bands keep the state. With PWM on, the negative plateau must reach
# -12 V: an EV without its diode (or a short to earth) is a fault (E).
from micropython import const
from msgs import CP_A, CP_B, CP_C, CP_D, CP_E, CP_F

HYST_MV = const(400)         # band edges moved inwards: 12 +-1 V becomes 11.4..12.6 V
DEBOUNCE = const(3)          # consecutive samples (the service samples every 10 ms: 30 ms)
DIODE_MAX_MV = const(-10000)  # negative plateau must be below -10 V while PWM runs
DUTY_DIGITAL = const(50)     # 5 %: ISO 15118 / DIN 70121 high-level communication (triggers SLAC)
DUTY_OFF = const(1000)       # no PWM: steady +12 V (A, B1, C1)
DUTY_F = const(0)            # steady -12 V: state F, the EVSE is not available

# (level, low mV, high mV) of the positive plateau (nominal +-1 V, then the hysteresis)
_BANDS = ((CP_A, 11000, 13000), (CP_B, 8000, 10000), (CP_C, 5000, 7000), (CP_D, 2000, 4000),
          (CP_E, -1000, 1000), (CP_F, -13000, -11000))


def classify(high_mv):
    # -> the level whose band (narrowed by the hysteresis) holds high_mv, 0 between bands
    for lv, lo, hi in _BANDS:
        if lo + HYST_MV <= high_mv <= hi - HYST_MV:
            return lv
    return 0


def duty_for_current(amps):
    # IEC 61851-1 Table A.8: 6..51 A -> duty = A / 0.6 %; 51..80 A -> A / 2.5 + 64 %. In permille.
    if amps < 6:
        return DUTY_OFF
    if amps <= 51:
        return (amps * 100 + 3) // 6
    if amps <= 80:
        return amps * 4 + 640
    return 970


def pp_rating(ohms):
    # IEC 61851-1 Table B.2 (cable rating from the PP resistor, +-10 %): -> A, 0 no cable / DC
    for r, a in ((1500, 13), (680, 20), (220, 32), (100, 63)):
        if r * 9 // 10 <= ohms <= r * 11 // 10:
            return a
    return 0


class Pilot:
    def __init__(self):
        self.level = CP_A
        self.cand = 0
        self.count = 0
        self.changes = 0
        self.diode_faults = 0

    def sample(self, high_mv, low_mv, pwm_on):
        # one measurement: -> True when the debounced level changed
        lv = classify(high_mv)
        if pwm_on and lv in (CP_B, CP_C, CP_D) and low_mv > DIODE_MAX_MV:
            lv = CP_E          # no diode: the EV is not a real vehicle interface (IEC 61851-1 A.2.2)
            self.diode_faults += 1
        if lv == 0 or lv == self.level:
            self.cand = 0
            self.count = 0
            return False
        if lv != self.cand:
            self.cand = lv
            self.count = 1
        else:
            self.count += 1
        if self.count < DEBOUNCE:
            return False
        self.level = lv
        self.cand = 0
        self.count = 0
        self.changes += 1
        return True
