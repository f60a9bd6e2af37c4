# Runs the transport test services (v_secc, v_evcc) under the real kernel in wall-clock time, from a
# JSON config (bytes as hex), optionally capturing to pcapng; prints RESULT <json>.
import binascii
import json
import harness
from jezgro.service import ServiceSpec
from jezgro.const import PRIO_MEDIUM


def _b(x):
    return None if x is None else binascii.unhexlify(x)


def run(role, cfg_json, run_ms=20000):
    cfg = json.loads(cfg_json)
    cap = None
    if cfg.get("pcapng"):
        from iso15118.capture import Capture
        cap = Capture(cfg.pop("pcapng"), cfg["iface"])
        cfg["capture"] = cap
    if cfg.get("tls") is not None:
        cfg["tls"] = tuple(_b(x) if i < 3 else x for i, x in enumerate(cfg["tls"]))
    if role == "secc":
        import v_secc as m
    else:
        import v_evcc as m
        cfg["frames"] = [(pt, _b(h)) for pt, h in cfg.get("frames", [])]
    m.CFG.update(cfg)
    k = harness.kernel([ServiceSpec(1, role.upper(), PRIO_MEDIUM, 16, 128, 1000000, "v_" + role)],
                       virtual=False)
    k.boot()
    k.run(run_ms)
    if cap is not None:
        cap.close()
        m.OUT["capture"] = [cap.packets, cap.bytes]
    svc = k.services[1]
    m.OUT["faults"] = svc.faults
    m.OUT["fault_text"] = svc.last_fault_text
    harness.result(m.OUT)
