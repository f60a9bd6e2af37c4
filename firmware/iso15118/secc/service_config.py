# The ISO15118 service's provisioning: <fs>/iso15118.json, e.g.
#   {"iface": "eth0", "protocols": ["ISO_15118_2", "DIN_SPEC_70121"], "tls": false,
#    "tls_cert": "secc.crt", "tls_key": "secc.key", "sequence_timeout_ms": 60000, "evse": 1,
#    "limits": {"max_v": 500, "max_i": 200, "max_p": 100000, "ac_max_i": 32, "ac_nominal_v": 230,
#               "modes": ["AC_three_phase_core", "DC_extended"], "evse_id": "DE*JEZ*E0001"}}
# protocols: what supportedAppProtocolRes may choose, in our order of preference (the EV's priority
# decides among them, ISO 15118-2 [V2G2-172]); tls: also offer TLS (cert/key files in <fs>, PEM or
# DER) besides TCP; limits: EvseLimits keyword arguments (the charger's rating; POWER_MGR may lower
# max_p at run time); evse: the OCPP EVSE id the charging needs are reported for; pcapng: a file in
# <fs> that receives every SDP exchange and session as pcapng for Wireshark (off when null; it grows
# with every session: for commissioning and debugging, not for permanent use on the board's flash);
# slac: the link is HomePlug Green PHY behind the SLAC service: SDP is answered and connections taken
# only while SLAC_LINK says an EV matched (false: a plain Ethernet link, always listening);
# control_modes: the ISO 15118-20 control modes offered, in order of preference (the EV takes the first
# it can use): ["Scheduled", "Dynamic"] by default; Dynamic first lets a station controller set the power
# of a -20 session (discharge included) with EVs that take the first offer.
# load() raises ConfigError with a message that names the file and the key.
from jezgro import persist
from iso15118.secc import sap
from iso15118.secc.evse_limits import EvseLimits, ALL_MODES

FILE = "iso15118.json"
MAX_CERT = 16384  # a certificate or key file larger than this is refused unread
PROTOCOLS = {"ISO_15118_2": sap.ISO2, "DIN_SPEC_70121": sap.DIN, "ISO_15118_20_DC": sap.ISO20_DC,
             "ISO_15118_20_AC": sap.ISO20_AC}
LIMIT_KEYS = ("max_v", "max_i", "max_p", "min_v", "min_i", "ripple_i", "tolerance_i", "ac_max_i", "ac_nominal_v")
DEFAULTS = {"iface": "eth0", "protocols": ["ISO_15118_2", "DIN_SPEC_70121"], "tls": False, "tls_cert": "secc.crt",
            "tls_key": "secc.key", "sequence_timeout_ms": 60000, "evse": 1, "limits": {}, "pcapng": None,
            "slac": False, "control_modes": ["Scheduled", "Dynamic"]}
CONTROL_MODES = ("Scheduled", "Dynamic")


class ConfigError(ValueError):
    pass


def _int(v, key, lo, hi):
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise ConfigError("%s: %s must be an integer in %d..%d, not %r" % (FILE, key, lo, hi, v))
    return v


def parse(d):
    # dict from the file -> the complete config (defaults filled in); ConfigError when invalid.
    if not isinstance(d, dict):
        raise ConfigError("%s: not a JSON object" % FILE)
    for k in d:
        if k not in DEFAULTS:
            raise ConfigError("%s: unknown key %r" % (FILE, k))
    c = dict(DEFAULTS)
    c.update(d)
    if not isinstance(c["iface"], str) or not c["iface"]:
        raise ConfigError("%s: iface must be an interface name" % FILE)
    if not isinstance(c["protocols"], list) or not c["protocols"]:
        raise ConfigError("%s: protocols must be a non-empty list of %s" % (FILE, ", ".join(PROTOCOLS)))
    for p in c["protocols"]:
        if p not in PROTOCOLS:
            raise ConfigError("%s: unknown protocol %r (one of %s)" % (FILE, p, ", ".join(PROTOCOLS)))
    if not isinstance(c["tls"], bool):
        raise ConfigError("%s: tls must be true or false" % FILE)
    if not isinstance(c["slac"], bool):
        raise ConfigError("%s: slac must be true or false" % FILE)
    if c["pcapng"] is not None and (not isinstance(c["pcapng"], str) or not c["pcapng"] or "/" in c["pcapng"]):
        raise ConfigError("%s: pcapng must be null or a file name in the filesystem root" % FILE)
    cm = c["control_modes"]
    if (not isinstance(cm, list) or not 1 <= len(cm) <= 2 or [m for m in cm if m not in CONTROL_MODES]
            or len(set(cm)) != len(cm)):
        raise ConfigError("%s: control_modes must list Scheduled and/or Dynamic once each" % FILE)
    _int(c["sequence_timeout_ms"], "sequence_timeout_ms", 100, 600000)
    _int(c["evse"], "evse", 1, 255)
    lim = c["limits"]
    if not isinstance(lim, dict):
        raise ConfigError("%s: limits must be an object" % FILE)
    for k, v in lim.items():
        if k in LIMIT_KEYS:
            _int(v, "limits." + k, 0, 10000000)
        elif k == "modes":
            if not isinstance(v, list) or not v or [m for m in v if m not in ALL_MODES]:
                raise ConfigError("%s: limits.modes must be a non-empty list of %s" % (FILE, ", ".join(ALL_MODES)))
        elif k == "evse_id":
            if not isinstance(v, str) or not 0 < len(v) <= 37:
                raise ConfigError("%s: limits.evse_id must be a string of 1..37 characters" % FILE)
        else:
            raise ConfigError("%s: unknown key limits.%s" % (FILE, k))
    return c


def load(fs):
    # -> config dict; ConfigError for a missing, unreadable or invalid file.
    text, why = persist.read_text(fs + "/" + FILE)
    if text is None:
        raise ConfigError("%s: cannot read (%s)" % (FILE, why))
    d, why = persist.parse_json(text)
    if d is None:
        raise ConfigError("%s: %s" % (FILE, why))
    try:
        return parse(d)
    except ConfigError:
        raise
    except Exception as e:  # garbage that is JSON: an unhashable protocol name, ...
        raise ConfigError("%s: unusable content (%s: %s)" % (FILE, type(e).__name__, e))


def supported(c):
    # -> the sap.negotiate table of the configured protocols
    out = {}
    for name in c["protocols"]:
        ns = PROTOCOLS[name]
        out[ns] = sap.SUPPORTED[ns]
    return out


def limits(c):
    return EvseLimits(**c["limits"])


def tls_config(c, fs):
    # -> TlsConfig or None; ConfigError when TLS is on and a file is missing.
    if not c["tls"]:
        return None
    from iso15118.transport.stream import TlsConfig
    out = []
    for key in ("tls_cert", "tls_key"):
        data, why = persist.read_bytes(fs + "/" + c[key], MAX_CERT)
        if data is None:
            raise ConfigError("%s: %s file %s: %s" % (FILE, key, c[key], why))
        out.append(data)
    tc = TlsConfig(out[0], out[1])
    try:
        tc.context(True)  # garbage in either file shows here, named, rather than in the endpoint
    except ImportError:
        raise ConfigError("%s: tls is on but this firmware has no TLS module (tls/mbedTLS)" % FILE)
    except Exception as e:  # mbedTLS on garbage: ValueError, OSError, ...
        raise ConfigError("%s: tls_cert %s / tls_key %s: bad certificate or key (%s)" % (
            FILE, c["tls_cert"], c["tls_key"], e))
    return tc


def capture(c, fs):
    # -> Capture for the configured pcapng file, or None
    if c["pcapng"] is None:
        return None
    from iso15118.capture import Capture
    try:
        return Capture(fs + "/" + c["pcapng"], c["iface"])
    except OSError as e:
        raise ConfigError("%s: pcapng file %s: %s" % (FILE, c["pcapng"], e))
