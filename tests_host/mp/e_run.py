# Runs the EV simulator service (iso15118.evcc.ev_sim: our EVCC) under the real kernel in wall-clock
# time from a JSON config; prints RESULT <json>.
import json
import harness
from jezgro.service import ServiceSpec
from jezgro.const import PRIO_MEDIUM


def run(cfg_json, run_ms=60000):
    from iso15118.evcc import ev_sim as m
    cfg = json.loads(cfg_json)
    if cfg.get("tls") is not None:  # [cert, key, ca] as hex, then server_hostname, ciphers
        cfg["tls"] = [bytes.fromhex(x) if x else None for x in cfg["tls"][:3]] + cfg["tls"][3:]
    m.CFG.update(cfg)
    k = harness.kernel([ServiceSpec(1, "EVCC", PRIO_MEDIUM, 16, 128, 1000000, "iso15118.evcc.ev_sim")],
                       virtual=False)
    k.boot()
    k.run(run_ms)
    svc = k.services[1]
    m.OUT["faults"] = svc.faults
    m.OUT["fault_text"] = svc.last_fault_text
    harness.result(m.OUT)
