# Runs the transport test services (v_secc, v_evcc) under the real kernel in wall-clock time, from a
# JSON config (bytes as hex), optionally capturing to pcapng; prints RESULT <json>.
import binascii
import json
import harness


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
    svc = harness.run_one(role.upper(), "v_" + role, run_ms)
    if cap is not None:
        cap.close()
        m.OUT["capture"] = [cap.packets, cap.bytes]
    harness.report(m.OUT, svc)
