# Test harness (MicroPython side): build a kernel from ServiceSpec rows of
# test services, run it in virtual time, report JSON for pytest to assert on.
import json
import board
from jezgro.kernel import Kernel
from jezgro.service import ServiceSpec


def kernel(rows, audit_sid=-1, safe_sid=-1, virtual=True, reset_cause="power_on", hwwdt_ms=2000):
    board.configure(virtual, reset_cause)
    table = tuple([ServiceSpec(0, "KERNEL", -1, 4, 16, 0, None)] + rows)
    return Kernel(table, board, audit_sid=audit_sid, safe_state_sid=safe_sid, hwwdt_ms=hwwdt_ms)


def result(obj):
    board.stop_hang_watch()
    print("RESULT " + json.dumps(obj))
