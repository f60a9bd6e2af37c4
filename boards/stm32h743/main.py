# Boot entry of JEZGRO-GW on the NUCLEO-H743ZI: runs from /flash/main.py after
# every hard reset (kept as source: the stm32 port runs main.py, not main.mpy).
# Boots the V2G gateway service table (spec §2.1) and runs the kernel forever.
#
# Before booting it reports a hang recorded by the previous run (see
# board.break_main: a service that never yielded, ended by the hardware
# watchdog) and hands it to the kernel's reset report, so the audit log says
# which service hung and not just "watchdog".
#
# Service mode (REPL free, kernel and hardware watchdog not started): create
# /flash/SERVICE_MODE, or hold the blue USER button while pressing RESET.
# Ctrl-C on the USB REPL stops a running kernel and also enters service mode.
import json
import board
from jezgro.kernel import Kernel
from jezgro.hwwdt import CAUSE_FILE
from config import v2g


def service_name(sid: int) -> str:
    for spec in v2g.TABLE:
        if spec.sid == sid:
            return spec.name
    return "#%d" % sid


def report_hang(sid: int, cause: str, to_kernel: bool) -> None:
    name = service_name(sid)
    if cause == "watchdog":
        print("jezgro: watchdog reset: service %s hung (did not yield within its watchdog period)"
              % name)
    else:
        print("jezgro: service %s hung before an earlier watchdog reset (this boot: %s)"
              % (name, cause))
    if not to_kernel or cause != "watchdog":
        return
    # Same record HwWatchdog writes before it starves the watchdog on purpose:
    # Kernel.boot() reads it back and audits "watchdog <service> <reason>".
    # (a write that fails is counted by persist; the board's own reset cause is still reported)
    from jezgro import persist
    persist.write_atomic(board.FS_ROOT + "/" + CAUSE_FILE, json.dumps({"service": name, "reason": "hung"}))


def main() -> None:
    cause = board.reset_cause()
    service = board.service_mode_requested()
    # In service mode the record is only shown, and kept for the next kernel boot.
    sid = board.hang_record(not service)
    if sid >= 0:
        report_hang(sid, cause, not service)
    if service:
        print("jezgro: service mode (/flash/%s or USER button): kernel not started"
              % board.SERVICE_MODE_FILE)
        return
    kernel = Kernel(v2g.TABLE, board, audit_sid=v2g.AUDIT_LOGGER,
                    safe_state_sid=v2g.SAFE_STATE_OWNER, fault_sids=(v2g.CAN_HANDLER,))
    try:
        kernel.boot()
        kernel.run()
    except KeyboardInterrupt:
        board.service_mode()
        print("jezgro: kernel stopped by Ctrl-C; service mode until the next reset "
              "(the hardware watchdog is fed from the tick interrupt)")


main()
