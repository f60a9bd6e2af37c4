# The gateway's own meter at the grid connection, for OCPP_CLIENT's registers (ocpp/meter.py): the
# energy counters the control tick integrates (grid/energy.EN, read directly rather than POWER_MGR's
# copy in power/status.GW, which is up to one of its polls old: a reading is the energy up to this
# instant), and what POWER_MGR measured (GW: P/Q filtered, the Park voltages and currents of its last
# poll). A station with a revenue meter chip gives ocpp/meter.py another source with the same read().
import math
from grid import energy
from power import status as gw

SQRT2 = math.sqrt(2)


class GridMeter:
    def __init__(self):
        self.out = [0, 0, 0, 0, 0.0, 0.0]  # reused by read(): nothing allocated per reading but floats

    def read(self):
        # -> [import J counter, export J counter (both wrap at gw.E_WRAP), P W (+ import), Q var,
        #     phase voltage V rms, phase current A rms], or None before POWER_MGR has measured
        g = gw.GW
        if g[gw.UPDATES] == 0:
            return None
        o = self.out
        en = energy.EN
        o[0] = en[energy.IMP_J]
        o[1] = en[energy.EXP_J]
        o[2] = g[gw.P_MEAS]
        o[3] = g[gw.Q_MEAS]
        # amplitude-invariant Park: the dq magnitude is the phase peak (Q8)
        o[4] = math.sqrt(g[gw.VD_Q8] * g[gw.VD_Q8] + g[gw.VQ_Q8] * g[gw.VQ_Q8]) / 256 / SQRT2
        o[5] = math.sqrt(g[gw.ID_Q8] * g[gw.ID_Q8] + g[gw.IQ_Q8] * g[gw.IQ_Q8]) / 256 / SQRT2
        return o
