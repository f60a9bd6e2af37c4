"""The offline fallback limit's rule (firmware/ocpp/fallback.py) against a client stand-in whose clock and
link the test sets: when it comes into force and goes, what it audits, and how it combines with every kind
of composite-schedule limit (none, an import cap above and below it, a V2G period). The whole gateway with
a CSMS that dies is in test_comm_loss_csms.py."""
from __future__ import annotations

CODE = """
import harness, msgs
from ocpp.fallback import Fallback
from jezgro.const import EV_OCPP_FALLBACK

class Ctx:
    def __init__(self):
        self.audited = []
    def audit(self, ev, cause=0, text=""):
        self.audited.append([ev == EV_OCPP_FALLBACK, text])

class Cl:
    def __init__(self, cfg):
        self.cfg = cfg
        self.ctx = Ctx()
        self.connected = False
        self.t = 0
        self.offline_since_ms = 0
    def now(self):
        return self.t
    def since(self, t):
        return self.t - t

def flags(f):
    return [n for n, b in (("import", msgs.LIM_IMPORT), ("export", msgs.LIM_EXPORT)) if f & b]

out = {}
none = Fallback(Cl({}))
none.cl.t = 10 ** 7
out["unconfigured"] = [none.update(), none.status(), [list(none.combine(x)[:2]) + [flags(none.combine(x)[2])]
                                                       for x in (None, 1500, -2500)]]
cl = Cl({"offline_fallback": {"after_s": 60, "limit_w": 700, "export_w": 400}})
fb = Fallback(cl)
seen = []
for t, connected in ((59999, False), (60000, False), (90000, False), (91000, True), (200000, True)):
    cl.t = t
    if connected and not cl.connected:
        cl.connected = True
    seen.append([t, fb.update()])
cl.connected = False
cl.offline_since_ms = 200000
cl.t = 260000
seen.append([cl.t, fb.update()])
out["seen"] = seen
out["audited"] = cl.ctx.audited
out["status"] = fb.status()
out["combine"] = [[x] + list(fb.combine(x)[:2]) + [flags(fb.combine(x)[2])] for x in (None, 1500, 500, -2500, -300, 0)]
harness.result(out)
"""


def test_fallback_comes_and_goes_with_the_csms_and_caps_every_kind_of_limit(mp):
    d = mp(CODE).data
    # not configured: never in force, the schedule's limit passes as it is
    assert d["unconfigured"] == [False, None, [[0, 0, []], [1500, 0, ["import"]], [0, 2500, ["import", "export"]]]]
    # in force from after_s without the CSMS, until it is back; again after the next outage's after_s
    assert d["seen"] == [[59999, False], [60000, True], [90000, True], [91000, False], [200000, False],
                         [260000, True]]
    assert d["audited"] == [[True, "CSMS away 60 s: fallback limit 700 W import, 400 W export"],
                            [True, "CSMS back after 31 s of fallback"],
                            [True, "CSMS away 60 s: fallback limit 700 W import, 400 W export"]]
    assert d["status"] == {"after_s": 60, "limit_w": 700, "export_w": 400, "active": True, "engaged": 2,
                           "active_for_ms": 0}
    both = ["import", "export"]
    assert d["combine"] == [
        [None, 700, 400, both],    # no schedule: the fallback alone
        [1500, 700, 400, both],    # a higher import cap: the fallback's, and an export cap appears
        [500, 500, 400, both],     # a lower one stays
        [-2500, 0, 400, both],     # a V2G period: still no import, the export capped
        [-300, 0, 300, both],      # ... unless the period's own export cap is lower
        [0, 0, 400, both],         # a zero limit stays zero
    ]
