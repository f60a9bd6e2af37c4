# Hardware watchdog policy. The board's watchdog (machine.WDT / IWDG on the
# NUCLEO, a simulated one on unix) is fed only while every CRITICAL service is
# healthy. When the kernel decides to starve it, it first writes down why, so
# the next boot can report the cause and the service instead of a bare
# "watchdog reset".
import json
from jezgro import persist

CAUSE_FILE = "reset_cause.json"


class HwWatchdog:
    def __init__(self, board, timeout_ms):
        self.board = board
        self.timeout_ms = timeout_ms
        self.path = board.FS_ROOT + "/" + CAUSE_FILE
        self.starving = False
        self.feeds = 0

    def start(self):
        self.board.wdt_start(self.timeout_ms)

    def poll(self, culprit):
        # culprit: None while all CRITICAL services are healthy, else the
        # (name, reason) that makes us stop feeding.
        if culprit is None:
            if self.starving:
                self.starving = False
                self._forget()
            self.board.wdt_feed()
            self.feeds += 1
            return
        if not self.starving:
            self.starving = True
            self.persist(culprit[0], culprit[1])

    def persist(self, service, reason):
        # a failure is counted by persist; the reset itself is still reported by the board
        persist.write_atomic(self.path, json.dumps({"service": service, "reason": reason,
                                                    "uptime_ms": self.board.ticks_ms()}))

    def _forget(self):
        persist.remove(self.path)

    def boot_report(self):
        # -> (cause, service, reason): cause is the board's reset cause name.
        cause = self.board.reset_cause()
        service = reason = ""
        d, why = persist.read_json(self.path, 1024)
        if isinstance(d, dict) and isinstance(d.get("service", ""), str) and isinstance(d.get("reason", ""), str):
            service = d.get("service", "")
            reason = d.get("reason", "")
        elif why != "missing":
            persist.problem(self.path, persist.REJECTED, why or "not a reset record")
        self._forget()
        if cause == "power_on" or cause == "deepsleep":
            # A record left from an earlier run that ended some other way.
            service = reason = ""
        return cause, service, reason
