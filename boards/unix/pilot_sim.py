# Simulation only: the EV side of the control-pilot circuit (IEC 61851-1 Annex A) and the cable's
# proximity resistor. The simulated EV (ev_sim) plugs in, closes S2 (state C) and unplugs; the board's
# pilot_sample() reads the voltages this circuit gives for the duty the EVSE drives (board.pilot_pwm).
# Plateau levels: R2 2.74 kOhm -> 9 V (B), R2 || R3 1.3 kOhm -> 6 V (C), R3 270 Ohm -> 3 V (D).
from micropython import const

NO_PP = const(0)
LOG_KEEP = const(24)  # events kept for the summary: back-to-back sessions (the soak) must not grow it


class _Cp:
    plugged = False
    s2 = False          # C: the EV is ready to take power
    vent = False        # D: ventilation required
    diode = True
    short = False       # E: pilot shorted to PE
    pp_ohm = NO_PP      # a CCS (DC) inlet has no PP resistor the EVSE reads: 0
    duty = 1000         # what the EVSE drives (permille; 1000 steady +12 V, 0 steady -12 V)
    log = []            # (event) for the summary: what the EV did
    unplug_at = None    # board ms: the cable is pulled then, whatever the EV is doing (tests)


CP = _Cp()


def _log(event):
    if len(CP.log) >= LOG_KEEP:
        CP.log.pop(0)
    CP.log.append(event)


def plug(pp_ohm=NO_PP):
    CP.plugged = True
    CP.s2 = False
    CP.pp_ohm = pp_ohm
    _log("plug")


def set_s2(closed):
    CP.s2 = closed
    _log("S2 closed" if closed else "S2 open")


def unplug():
    CP.plugged = False
    CP.s2 = False
    CP.pp_ohm = NO_PP
    _log("unplug")


def measure(out):
    # out[0]: positive plateau mV, out[1]: negative plateau mV (no PWM: both the steady level)
    if CP.unplug_at is not None and CP.plugged:
        import board
        if board.ticks_diff(board.ticks_ms(), CP.unplug_at) >= 0:
            CP.unplug_at = None
            unplug()
    if CP.short:
        out[0] = out[1] = 0
        return
    if CP.duty <= 0:
        out[0] = out[1] = -12000
        return
    if not CP.plugged:
        hi = 12000
    elif CP.vent:
        hi = 3000
    elif CP.s2:
        hi = 6000
    else:
        hi = 9000
    lo = -12000 if (CP.diode or not CP.plugged) else -8800
    out[0] = hi
    out[1] = hi if CP.duty >= 1000 else lo
