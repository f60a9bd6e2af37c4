# DROOP_CTRL's provisioning: <fs>/grid.json, e.g. {"grid_code": "VDE-AR-N-4110", "sms": true}.
# grid_code: a profile of grid/profiles.py; sms: slip-mode frequency shift anti-islanding on/off.
# A missing file means the defaults. parse()/load() raise ConfigError naming the file and the key;
# DROOP_CTRL reports it (ctx.config_failed) and runs on the defaults, `jezgro provision` refuses it.
from jezgro import persist
from grid import profiles

FILE = "grid.json"
KNOWN = ("grid_code", "sms")


class ConfigError(ValueError):
    pass


def defaults():
    return {"grid_code": profiles.DEFAULT, "sms": True}


def parse(d):
    if not isinstance(d, dict):
        raise ConfigError("%s: not a JSON object" % FILE)
    cfg = defaults()
    for k in d:
        if k not in KNOWN:
            raise ConfigError("%s: unknown field \"%s\"" % (FILE, k))
    if "grid_code" in d:
        if not isinstance(d["grid_code"], str):
            raise ConfigError("%s: grid_code must be a profile name (a string)" % FILE)
        try:
            profiles.get(d["grid_code"])
        except Exception as e:  # KeyError/ValueError/TypeError: whatever a bad name trips
            raise ConfigError("%s: grid_code %r: %s" % (FILE, d["grid_code"], e))
        cfg["grid_code"] = d["grid_code"]
    if "sms" in d:
        if not isinstance(d["sms"], bool):
            raise ConfigError("%s: sms must be true or false" % FILE)
        cfg["sms"] = d["sms"]
    return cfg


def load(fs):
    return load_file(fs + "/" + FILE)


def load_file(path):
    # -> the config; the defaults when the file is missing; ConfigError when it is unusable
    d, why = persist.read_json(path)
    if d is None:
        if why == "missing":
            return defaults()
        raise ConfigError("%s: %s" % (FILE, why))
    return parse(d)
