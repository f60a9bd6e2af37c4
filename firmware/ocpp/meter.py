# The station's energy registers and the sampled values of OCPP meter values (SampledDataCtrlr /
# AlignedDataCtrlr measurands). Energy and power come from a measurement source (power/gridmeter.py:
# the grid-side P/Q the control loop measures and integrates; a meter chip driver would give the same
# read()), never from a setpoint or a limit. Import and export are separate registers: V2G discharge
# counts on Energy.Active.Export.Register and never lowers the import register.
#
# The registers are persisted (ocpp_meter.json through jezgro.persist) every SAVE_S seconds and before
# every TransactionEvent that reports them, so they are monotonic across reboots and power loss: a
# reboot continues from the last saved value (at most SAVE_S seconds of energy are not counted, never
# counted twice), and the source's wrapping counters are read as differences from a first reading.
# Each sampled value is built by sampled_value(): the one place a signedMeterValue would be added.
from micropython import const
from jezgro import persist

FILE = "ocpp_meter.json"
SAVE_S = const(10)
WRAP = const(0x3FFFFFFF)  # the source's counters wrap here (power/status.E_WRAP)
MAX_W = const(1000000)  # a counter step above this power over the interval is a source fault, not energy
MEASURANDS = ("Energy.Active.Import.Register", "Energy.Active.Export.Register", "Power.Active.Import",
              "Power.Active.Export", "Power.Reactive.Import", "Current.Import", "Current.Export", "Voltage",
              "SoC")


def _num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0


def _check(d):
    if not isinstance(d, dict) or not _num(d.get("import_wh", 0)) or not _num(d.get("export_wh", 0)):
        return None, "import_wh/export_wh are not numbers >= 0"
    return d, 0


class Meter:
    def __init__(self, fs, source):
        self.path = fs + "/" + FILE
        d = persist.load_json(self.path, {}, _check)
        self.import_wh = float(d.get("import_wh", 0))
        self.export_wh = float(d.get("export_wh", 0))
        self.saved = (self.import_wh, self.export_wh)
        self.source = source
        self.last = None  # the source's counters at the last reading
        self.p_w = 0
        self.q_var = 0
        self.v = None  # phase voltage, V rms (None: not measured)
        self.i = None  # phase current, A rms
        self.soc = None  # the EV's, % (None: not reported)
        self.faults = 0  # implausible counter steps (ignored)
        self.reads = 0
        self.last_save_s = 0

    def update(self, now_s, dt_s):
        # one reading of the source; dt_s: seconds since the last one (bounds a plausible step)
        r = self.source.read() if self.source is not None else None
        if r is None:
            return
        self.reads += 1
        ei, ee = r[0], r[1]
        if self.last is not None:
            di = (ei - self.last[0]) & WRAP
            de = (ee - self.last[1]) & WRAP
            if di + de > MAX_W * (dt_s + 1):
                self.faults += 1  # a restarted or broken source: its step is no energy
            else:
                self.import_wh += di / 3600
                self.export_wh += de / 3600
        self.last = (ei, ee)
        self.p_w, self.q_var, self.v, self.i = r[2], r[3], r[4], r[5]
        if now_s - self.last_save_s >= SAVE_S:
            self.save(now_s)

    def save(self, now_s=None):
        if now_s is not None:
            self.last_save_s = now_s
        reg = (self.import_wh, self.export_wh)
        if reg != self.saved:
            persist.save_json(self.path, {"import_wh": reg[0], "export_wh": reg[1]})
            self.saved = reg

    def value(self, measurand):
        # -> (value, unit) of one measurand now, or None when it is not measured
        p = self.p_w
        if measurand == "Energy.Active.Import.Register":
            return round(self.import_wh, 2), "Wh"
        if measurand == "Energy.Active.Export.Register":
            return round(self.export_wh, 2), "Wh"
        if measurand == "Power.Active.Import":
            return (p if p > 0 else 0), "W"
        if measurand == "Power.Active.Export":
            return (-p if p < 0 else 0), "W"
        if measurand == "Power.Reactive.Import":
            return (-self.q_var if self.q_var < 0 else 0), "var"
        if self.i is not None and measurand in ("Current.Import", "Current.Export"):
            flows = p > 0 if measurand == "Current.Import" else p < 0
            return (round(self.i, 1) if flows else 0), "A"
        if measurand == "Voltage" and self.v is not None:
            return round(self.v, 1), "V"
        if measurand == "SoC" and self.soc is not None:
            return self.soc, "Percent"
        return None

    def sampled_value(self, measurand, context):
        v = self.value(measurand)
        if v is None:
            return None
        sv = {"value": v[0], "measurand": measurand, "unitOfMeasure": {"unit": v[1]}}
        if measurand == "Voltage" or measurand.startswith("Current"):
            sv["phase"] = "L1-N" if measurand == "Voltage" else "L1"  # per phase, balanced three-phase
        if context:
            sv["context"] = context
        return sv

    def meter_value(self, measurands, ts, context):
        # -> one OCPP MeterValueType with the measurands of a device model list (unknown ones skipped)
        out = []
        for m in measurands.split(","):
            sv = self.sampled_value(m.strip(), context)
            if sv is not None:
                out.append(sv)
        return {"timestamp": ts, "sampledValue": out} if out else None

    def status(self):
        return {"import_wh": round(self.import_wh, 3), "export_wh": round(self.export_wh, 3), "p_w": self.p_w,
                "reads": self.reads, "faults": self.faults}
