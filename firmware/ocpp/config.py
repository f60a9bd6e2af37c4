# OCPP_CLIENT provisioning: <board.FS_ROOT>/ocpp.json, for example
#   {"url": "wss://csms.example.com/ocpp", "station_id": "GW-0001",
#    "security_profile": 2, "password": "0123456789abcdef", "ca": "csms_ca.pem"}
# security_profile 0: ws:// without authentication (development CSMS only)
#                  1: ws:// + HTTP Basic auth (station_id:password)
#                  2: wss:// server certificate checked against `ca` + Basic auth
#                  3: wss:// mutual TLS, client `cert` + `key`, server checked against `ca`
# "max_power_w": the station's rated power (default 22000), "connectors": EVSE count (default 1).
# "offline_fallback": {"after_s": 300, "limit_w": 4000[, "export_w": 0]}: once the CSMS has been away
# for after_s, the power is capped at limit_w import and export_w (default limit_w) export, on top of
# whatever the installed profiles say (ocpp/fallback.py, docs/reliability.md); absent: no fallback.
# Certificate/key paths are relative to FS_ROOT. Every problem is reported as a
# ConfigError naming the file and the field.
import json
from jezgro import persist

FILE = "ocpp.json"
MAX_CERT = 16384  # a certificate or key file larger than this is refused unread
KNOWN = ("url", "station_id", "security_profile", "password", "ca", "cert", "key", "vendor", "model",
         "serial", "firmware", "connectors", "max_message", "max_power_w", "offline_fallback")
FALLBACK_KEYS = ("after_s", "limit_w", "export_w")


class ConfigError(Exception):
    pass


def _need(d, k, typ):
    if k not in d:
        raise ConfigError("%s: missing \"%s\"" % (FILE, k))
    if not isinstance(d[k], typ) or isinstance(d[k], bool):
        raise ConfigError("%s: \"%s\" has the wrong type" % (FILE, k))
    return d[k]


def json_object(text, name, known, error):
    # the JSON object of config file `name` with only the fields in `known`, or raises error(text)
    d, why = persist.parse_json(text)
    if d is None:
        raise error("%s: %s" % (name, why))
    if not isinstance(d, dict):
        raise error("%s: must be a JSON object" % name)
    for k in d:
        if k not in known:
            raise error("%s: unknown field \"%s\"" % (name, k))
    return d


def parse(text):
    d = json_object(text, FILE, KNOWN, ConfigError)
    url = _need(d, "url", str)
    sid = _need(d, "station_id", str)
    if not 0 < len(sid) <= 48:
        raise ConfigError("%s: station_id must be 1..48 characters" % FILE)
    prof = d.get("security_profile", 1)
    if not isinstance(prof, int) or isinstance(prof, bool) or not 0 <= prof <= 3:
        raise ConfigError("%s: security_profile must be 0, 1, 2 or 3" % FILE)
    d["security_profile"] = prof
    if prof in (0, 1) and not url.startswith("ws://"):
        raise ConfigError("%s: security_profile %d needs a ws:// url" % (FILE, prof))
    if prof in (2, 3) and not url.startswith("wss://"):
        raise ConfigError("%s: security_profile %d needs a wss:// url" % (FILE, prof))
    if prof in (1, 2):
        pw = _need(d, "password", str)
        if not 16 <= len(pw) <= 40:
            raise ConfigError("%s: password must be 16..40 characters (OCPP A00.FR.205)" % FILE)
    if prof in (2, 3):
        _need(d, "ca", str)
    if prof == 3:
        _need(d, "cert", str)
        _need(d, "key", str)
    n = d.get("connectors", 1)
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 8:
        raise ConfigError("%s: connectors must be 1..8" % FILE)
    d["connectors"] = n
    m = d.get("max_message", 16384)
    if not isinstance(m, int) or isinstance(m, bool) or not 1024 <= m <= 32768:
        raise ConfigError("%s: max_message must be 1024..32768" % FILE)
    d["max_message"] = m
    w = d.get("max_power_w", 22000)  # the station's rated power: composite schedules where nothing limits
    if not isinstance(w, int) or isinstance(w, bool) or not 0 < w <= 1000000:
        raise ConfigError("%s: max_power_w must be 1..1000000 W" % FILE)
    d["max_power_w"] = w
    if "offline_fallback" in d:
        d["offline_fallback"] = _fallback(d["offline_fallback"])
    return d


def _int_in(d, k, lo, hi, what):
    v = d[k]
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise ConfigError("%s: offline_fallback.%s must be %d..%d %s" % (FILE, k, lo, hi, what))
    return v


def _fallback(f):
    # {"after_s", "limit_w"[, "export_w"]} -> the same with export_w filled in
    if not isinstance(f, dict):
        raise ConfigError("%s: offline_fallback must be an object {\"after_s\": S, \"limit_w\": W}" % FILE)
    for k in f:
        if k not in FALLBACK_KEYS:
            raise ConfigError("%s: unknown field \"offline_fallback.%s\"" % (FILE, k))
    for k in ("after_s", "limit_w"):
        if k not in f:
            raise ConfigError("%s: offline_fallback: missing \"%s\"" % (FILE, k))
    out = {"after_s": _int_in(f, "after_s", 1, 86400, "s"), "limit_w": _int_in(f, "limit_w", 0, 1000000, "W")}
    out["export_w"] = _int_in(f, "export_w", 0, 1000000, "W") if "export_w" in f else out["limit_w"]
    return out


def load(fs_root):
    text, why = persist.read_text(fs_root + "/" + FILE)
    if text is None:
        if why == "missing":
            why = "missing (OCPP_CLIENT needs it to connect)"
        raise ConfigError("%s/%s: %s" % (fs_root, FILE, why))
    return parse(text)


def headers(cfg):
    if cfg["security_profile"] in (1, 2):
        import binascii
        tok = binascii.b2a_base64(("%s:%s" % (cfg["station_id"], cfg["password"])).encode()).strip()
        return [("Authorization", "Basic " + tok.decode())]
    return None


def der(data):
    # mbedTLS as built for MicroPython wants DER: PEM input is unwrapped here
    # (the first block only: one certificate or key per file).
    if not data.startswith(b"-----BEGIN"):
        return data
    body = []
    for ln in data.split(b"\n")[1:]:
        if ln.startswith(b"-----END"):
            break
        body.append(ln.strip())
    import binascii
    return binascii.a2b_base64(b"".join(body))


def tls_context(cfg, fs_root):
    # ssl.SSLContext for profiles 2 and 3 (mbedTLS): server verified against the CA.
    if cfg["security_profile"] < 2:
        return None
    try:
        import ssl
    except ImportError:
        raise ConfigError("%s: security_profile %d needs TLS, which this firmware lacks" % (FILE, cfg["security_profile"]))

    def read(name):
        data, why = persist.read_bytes(fs_root + "/" + cfg[name], MAX_CERT)
        if data is None:
            raise ConfigError("%s: %s file %s not readable (%s)" % (FILE, name, cfg[name], why))
        try:
            return der(data)
        except Exception:  # binascii on garbage: ValueError, TypeError
            raise ConfigError("%s: %s file %s is not PEM or DER" % (FILE, name, cfg[name]))

    c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    c.verify_mode = ssl.CERT_REQUIRED
    names = "ca %s" % cfg["ca"]
    try:
        c.load_verify_locations(cadata=read("ca"))
        if cfg["security_profile"] == 3:
            names = "cert %s / key %s" % (cfg["cert"], cfg["key"])
            c.load_cert_chain(read("cert"), read("key"))
    except ConfigError:
        raise
    except Exception as e:  # mbedTLS on garbage: ValueError, OSError, ...
        raise ConfigError("%s: bad certificate or key (%s): %s" % (FILE, names, e))
    return c


def provision(fs_root, opts):
    # Writes <fs_root>/ocpp.json from the simulation's --csms/--station-id/... options
    # (boards/unix/simmain.py), validated like the board would read it.
    d = {"url": opts["csms"], "station_id": opts["station-id"]}
    prof = opts.get("security-profile") or ""
    d["security_profile"] = int(prof) if prof else (2 if opts["csms"].startswith("wss://") else 0)
    for k in ("password", "ca", "cert", "key"):
        if opts.get(k):
            d[k] = opts[k]
    text = json.dumps(d)
    parse(text)
    with open(fs_root + "/" + FILE, "w") as f:
        f.write(text)
