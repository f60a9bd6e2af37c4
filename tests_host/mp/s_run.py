# Runs the session test service s_secc under the real kernel in wall-clock time from a JSON config;
# prints RESULT <json>.
import json
import harness


def run(cfg_json, run_ms=60000):
    import s_secc as m
    m.CFG.update(json.loads(cfg_json))
    harness.report(m.OUT, harness.run_one("ISO15118", "s_secc", run_ms))
