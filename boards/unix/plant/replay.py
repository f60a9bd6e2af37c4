# `jezgro pll-replay` runner (unix MicroPython): feeds a CSV of t,va,vb,vc
# (volts, 10 kHz) through the ADC scaling of grid/hw.py into the firmware PLL
# tick, exactly as on the board, and writes t,theta_rad,freq_hz,vd,vq,locked
# per sample; theta is the estimate of the grid angle at that sample's instant.
import sys
import math
import power_stage
from grid import pll

TO_RAD = 2 * math.pi / 4294967296
TO_HZ = 1 / (2 * math.pi * 65536)


def count(v):
    c = int(v * 4 + 2048.5) if v > -512 else 0
    return 4095 if c > 4095 else c


def main(inp, outp):
    pll.reset()
    adc = power_stage.ADC
    tick = pll.make_tick(adc, power_stage.sample)
    st = pll.ST
    n = 0
    bad = 0
    with open(inp) as fi, open(outp, "w") as fo:
        fo.write("t,theta_rad,freq_hz,vd,vq,locked\n")
        first = True  # the first non-empty line may be a header; after it, every bad line counts
        for line in fi:
            line = line.strip()
            if not line:
                continue
            parts = line.split(",")
            try:
                t = float(parts[0])
                va = float(parts[1])
                vb = float(parts[2])
                vc = float(parts[3])
            except (ValueError, IndexError):
                if not first:
                    bad += 1
                first = False
                continue
            first = False
            adc[0] = count(va)
            adc[1] = count(vb)
            adc[2] = count(vc)
            tick()
            th = st[pll.THETA]
            if th < 0:
                th += 4294967296
            th = th * TO_RAD
            if th > math.pi:
                th -= 2 * math.pi
            fo.write("%.6f,%.6f,%.5f,%.3f,%.3f,%d\n" % (t, th, st[pll.OMEGA_F] * TO_HZ, st[pll.VD] / 256,
                                                         st[pll.VQ] / 256, st[pll.LOCKED]))
            n += 1
    print("REPLAY %d %d" % (n, bad))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
