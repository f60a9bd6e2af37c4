# Runs the EV simulator service (iso15118.evcc.ev_sim: our EVCC) under the real kernel in wall-clock
# time from a JSON config; prints RESULT <json>.
import json
import harness


def run(cfg_json, run_ms=60000):
    from iso15118.evcc import ev_sim as m
    cfg = json.loads(cfg_json)
    if cfg.get("tls") is not None:  # [cert, key, ca] as hex, then server_hostname, ciphers
        cfg["tls"] = [bytes.fromhex(x) if x else None for x in cfg["tls"][:3]] + cfg["tls"][3:]
    m.CFG.update(cfg)
    harness.report(m.OUT, harness.run_one("EVCC", "iso15118.evcc.ev_sim", run_ms))
