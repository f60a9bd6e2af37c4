# Test harness (MicroPython side): build a kernel from ServiceSpec rows of
# test services, run it in virtual time, report JSON for pytest to assert on.
import json
import board
from jezgro.const import PRIO_MEDIUM
from jezgro.kernel import Kernel
from jezgro.service import ServiceSpec


def kernel(rows, audit_sid=-1, safe_sid=-1, virtual=True, reset_cause="power_on", hwwdt_ms=2000):
    board.configure(virtual, reset_cause)
    table = tuple([ServiceSpec(0, "KERNEL", -1, 4, 16, 0, None)] + rows)
    return Kernel(table, board, audit_sid=audit_sid, safe_state_sid=safe_sid, hwwdt_ms=hwwdt_ms)


def result(obj):
    board.stop_hang_watch()
    print("RESULT " + json.dumps(obj))


def run_one(name, module, run_ms):
    """One test service (sid 1, MEDIUM) under the real kernel in wall-clock time for run_ms; -> its Service."""
    k = kernel([ServiceSpec(1, name, PRIO_MEDIUM, 16, 128, 1000000, module)], virtual=False)
    k.boot()
    k.run(run_ms)
    return k.services[1]


def report(out, svc):
    """RESULT: the service's OUT dict with its fault count and last fault text."""
    out["faults"] = svc.faults
    out["fault_text"] = svc.last_fault_text
    result(out)
