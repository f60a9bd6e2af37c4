# Closed-loop frequency response of the current loop in the simulation: the
# plant, the PLL tick and the current-control tick in board order, a sine
# injected on id_ref around a working point, the response taken from the
# currents the firmware measures (the ADC samples). Prints RESULT with
# magnitude (dB) and phase (deg) per frequency.
import math
import json
import power_stage
from plant.model import Plant
from grid import pll, curctl

FREQS = (100, 200, 400, 600, 800, 1000, 1200, 1500, 2000)
I0 = 2886  # 11.3 A (half rated), Q8
AMP = 512  # 2 A, Q8


def _gcd(a, b):
    while b:
        a, b = b, a % b
    return a


def main():
    p = Plant()
    pll.reset()
    curctl.reset()
    t1 = pll.make_tick(power_stage.ADC, power_stage.sample)
    t2 = curctl.make_tick(power_stage.ADC, power_stage.PWM, power_stage.apply)
    cc = curctl.CC
    for _ in range(2000):  # lock
        p.step()
        t1()
        t2()
    cc[curctl.ENABLE] = 1
    cc[curctl.ID_REF] = I0
    for _ in range(300):
        p.step()
        t1()
        t2()
    out = []
    n = 0
    for f in FREQS:
        per = 10000 // _gcd(10000, f)  # ticks per whole number of periods
        settle = 100
        meas = per * max(1, 200 // per)
        sr = si = rr = ri = 0.0
        for k in range(settle + meas):
            ph = 2 * math.pi * f * n * 1e-4
            ref = AMP * math.sin(ph)
            cc[curctl.ID_REF] = I0 + int(ref)
            p.step()
            t1()
            t2()
            # the tick just run measured the current of this instant, against the
            # reference it was given at this instant
            if k >= settle:
                y = cc[curctl.ID] - I0
                sr += y * math.sin(ph)
                si += y * math.cos(ph)
                rr += ref * math.sin(ph)
                ri += ref * math.cos(ph)
            n += 1
        g = complex(sr, si) / complex(rr, ri)
        out.append([f, 20 * math.log10(abs(g)), math.degrees(math.atan2(g.imag, g.real))])
    print("RESULT " + json.dumps({"bode": out}))


main()
