# Runs the -20 session test service s20_secc under the real kernel in wall-clock time from a JSON
# config; prints RESULT <json>.
import json
import harness
from jezgro.service import ServiceSpec
from jezgro.const import PRIO_MEDIUM


def run(cfg_json, run_ms=60000):
    import s20_secc as m
    m.CFG.update(json.loads(cfg_json))
    k = harness.kernel([ServiceSpec(1, "ISO15118", PRIO_MEDIUM, 16, 128, 1000000, "s20_secc")], virtual=False)
    k.boot()
    k.run(run_ms)
    svc = k.services[1]
    m.OUT["faults"] = svc.faults
    m.OUT["fault_text"] = svc.last_fault_text
    harness.result(m.OUT)
