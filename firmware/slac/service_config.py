# <fs>/slac.json, the SLAC service's provisioning. Absent: SLAC off, the service runs the control
# pilot only (CP_STATE still flows; an ISO15118 configured without "slac" listens as before).
#   {"iface": "eth1", "mac": null, "modem_mac": "00:b0:52:00:00:01", "threshold_db": 40,
#    "nominal_a": 0, "wake_after_ms": 15000, "pcap": null, "sim_atten": {}}
# iface: the PLC modem's host interface; mac: our source MAC (null: the interface's); threshold_db:
# the highest average attenuation we match (a car on our cable 10-30 dB, crosstalk 40-60 dB);
# nominal_a: 0 for high-level communication only (5 % duty), else the current offered by the duty
# cycle when the EV does not start SLAC (basic charging); wake_after_ms: CP B at 5 % without a
# CM_SLAC_PARM.REQ this long -> the B2-B1-B2 wake-up; pcap: a file name in the filesystem root for a
# capture of every HomePlug frame; sim_atten: {EV MAC: dB} of the simulated modem (unix only).
import json
from slac import evse

FILE = "slac.json"
DEFAULTS = {"iface": "eth1", "mac": None, "modem_mac": "00:b0:52:00:00:01", "threshold_db": evse.DEFAULT_THRESHOLD_DB,
            "nominal_a": 0, "wake_after_ms": 15000, "pcap": None, "sim_atten": {}}  # type: dict


class ConfigError(ValueError):
    pass


def mac_bytes(text, what):
    try:
        b = bytes(int(x, 16) for x in text.split(":"))
    except (ValueError, AttributeError):
        b = b""
    if len(b) != 6:
        raise ConfigError("%s: %s must be a MAC address aa:bb:cc:dd:ee:ff" % (FILE, what))
    return b


def _int(c, k, lo, hi):
    v = c[k]
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise ConfigError("%s: %s must be an integer %d..%d" % (FILE, k, lo, hi))


def load(fs):
    # -> the configuration dict, or None when there is no file (SLAC off)
    try:
        f = open(fs + "/" + FILE)
    except OSError:
        return None
    with f:
        try:
            d = json.loads(f.read())
        except ValueError as e:
            raise ConfigError("%s: not JSON (%s)" % (FILE, e))
    c = dict(DEFAULTS)
    for k, v in (d.items() if isinstance(d, dict) else [("", None)]):
        if k not in c:
            raise ConfigError("%s: must be an object of %s (not %r)" % (FILE, ", ".join(sorted(DEFAULTS)), k))
        c[k] = v
    iface = c["iface"]
    if not (isinstance(iface, str) and iface):
        raise ConfigError("%s: iface must be an interface name" % FILE)
    c["mac_b"] = mac_bytes(c["mac"], "mac") if c["mac"] is not None else None
    c["modem_b"] = mac_bytes(c["modem_mac"], "modem_mac")
    _int(c, "threshold_db", 1, 90)
    _int(c, "nominal_a", 0, 80)
    _int(c, "wake_after_ms", 1000, 45000)
    if c["pcap"] is not None and (not isinstance(c["pcap"], str) or not c["pcap"] or "/" in c["pcap"]):
        raise ConfigError("%s: pcap must be null or a file name in the filesystem root" % FILE)
    if not isinstance(c["sim_atten"], dict):
        raise ConfigError("%s: sim_atten must be an object {mac: dB}" % FILE)
    atten = {}
    for k, v in c["sim_atten"].items():
        if not isinstance(v, int) or not 0 <= v <= 90:
            raise ConfigError("%s: sim_atten values must be dB 0..90" % FILE)
        atten[mac_bytes(k, "sim_atten key")] = v
    c["atten_b"] = atten
    return c
