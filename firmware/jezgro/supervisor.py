# Restart decisions, as an Erlang/OTP supervisor makes them: a faulted
# service is restarted by its policy unless it restarted more than R times
# within T seconds, in which case it is held (quarantined), the fault is
# audited and the safe-state owner (POWER_MGR) is told.
from jezgro.const import (RESTART_TEMPORARY, RESTART_TRANSIENT, F_EXIT, ST_HELD,
                          ST_STOPPED, EV_CRASH, EV_WATCHDOG, EV_QUARANTINE, EV_EXIT,
                          F_WATCHDOG, F_HANG)
from msgs import SERVICE_QUARANTINED, SERVICE_RESTARTED

LATENCY_KEEP = 64  # restart latencies kept per service for the summary


def intensity_exceeded(times, now_ms, max_restarts, period_ms, ticks_diff):
    # times: ms stamps of recent restarts (oldest first), pruned in place.
    while times and ticks_diff(now_ms, times[0]) > period_ms:
        times.pop(0)
    return len(times) > max_restarts


class Supervisor:
    def __init__(self, kernel, safe_state_sid):
        self.k = kernel
        self.safe_state_sid = safe_state_sid
        self.quarantined = 0

    def fault(self, svc, cause, text):
        k = self.k
        spec = svc.spec
        now = k.ticks_ms()
        t_fault_us = k.real_us()
        svc.faults += 1
        svc.last_fault = cause
        svc.last_fault_text = text
        k.stop_service(svc)
        ev = EV_EXIT if cause == F_EXIT else (EV_WATCHDOG if cause == F_WATCHDOG or cause == F_HANG else EV_CRASH)
        k.audit(ev, svc.sid, cause, text)
        if spec.policy == RESTART_TEMPORARY or (cause == F_EXIT and spec.policy == RESTART_TRANSIENT):
            svc.state = ST_STOPPED
            return
        svc.restart_times.append(now)
        if intensity_exceeded(svc.restart_times, now, spec.max_restarts, spec.period_s * 1000,
                              k.ticks_diff):
            svc.state = ST_HELD
            k.ipc.accepting[svc.sid] = 0
            self.quarantined += 1
            k.audit(EV_QUARANTINE, svc.sid, cause,
                    "%d restarts in %d s" % (len(svc.restart_times) - 1, spec.period_s))
            k.ipc.send_i32(0, self.safe_state_sid, SERVICE_QUARANTINED, svc.sid, cause,
                           priority=True)
            return
        svc.restart_from_us = t_fault_us
        k.start_service(svc, True)

    def restarted(self, svc):
        # Called on the first step of a new incarnation: fault -> running again.
        if svc.restart_from_us < 0:
            return
        lat = self.k.real_diff_us(self.k.real_us(), svc.restart_from_us)
        svc.restart_from_us = -1
        if len(svc.latency_us) >= LATENCY_KEEP:
            svc.latency_us.pop(0)
        svc.latency_us.append(lat)

    def release(self, svc):
        # Operator action: take a held service out of quarantine; the safe-state
        # owner hears of it as it heard of the quarantine.
        if svc.state == ST_HELD:
            svc.restart_times = []
            self.k.start_service(svc, True)
            self.k.ipc.send_i32(0, self.safe_state_sid, SERVICE_RESTARTED, svc.sid, priority=True)
