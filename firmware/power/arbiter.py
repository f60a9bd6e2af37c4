# Which power setpoint applies: the latest setpoint and limits of each source,
# combined by precedence (messages.PRECEDENCE) and clamped by every present
# limit. Import limits cap positive power, export limits cap negative power.
from power.messages import N_SOURCES, PRECEDENCE, LIM_IMPORT, LIM_EXPORT, SRC_OCPP


class Arbiter:
    def __init__(self):
        self.p = [0] * N_SOURCES
        self.q = [0] * N_SOURCES
        self.has = [False] * N_SOURCES
        self.until = [0] * N_SOURCES  # ticks_ms expiry, or 0 for none
        self.max_import = [0] * N_SOURCES
        self.max_export = [0] * N_SOURCES
        self.lim_flags = [0] * N_SOURCES

    def setpoint(self, src, p, q, expires_ms):
        self.p[src] = p
        self.q[src] = q
        self.has[src] = True
        self.until[src] = expires_ms

    def limits(self, src, max_import, max_export, flags):
        self.max_import[src] = max_import if max_import > 0 else 0
        self.max_export[src] = max_export if max_export > 0 else 0
        self.lim_flags[src] = flags

    def drop(self, src, keep_limits):
        # A source went away: its setpoint no longer applies. Its limits may stay
        # (a back office's cap is still the contract when the link is down).
        self.has[src] = False
        if not keep_limits:
            self.lim_flags[src] = 0

    def expire(self, now, ticks_diff):
        changed = False
        for s in range(N_SOURCES):
            if self.has[s] and self.until[s] and ticks_diff(now, self.until[s]) >= 0:
                self.has[s] = False
                changed = True
        return changed

    def effective(self):
        # -> (p, q, winning source or -1)
        p = q = 0
        src = -1
        for s in PRECEDENCE:
            if self.has[s]:
                p, q, src = self.p[s], self.q[s], s
                break
        for s in range(N_SOURCES):
            f = self.lim_flags[s]
            if f & LIM_IMPORT and p > self.max_import[s]:
                p = self.max_import[s]
            if f & LIM_EXPORT and p < -self.max_export[s]:
                p = -self.max_export[s]
        return p, q, src

    def import_cap(self):
        # -> the most the EV may import (W), or -1 when nothing caps it: every import limit, and
        # the back office's composite-schedule limit (OCPP sends it as its setpoint, power_msg.py),
        # which stays a cap even while the EV's own setpoint wins the precedence.
        cap = -1
        for s in range(N_SOURCES):
            if self.lim_flags[s] & LIM_IMPORT and (cap < 0 or self.max_import[s] < cap):
                cap = self.max_import[s]
        if self.has[SRC_OCPP]:
            p = self.p[SRC_OCPP] if self.p[SRC_OCPP] > 0 else 0
            if cap < 0 or p < cap:
                cap = p
        return cap

    def snapshot(self):
        return [self.p, self.q, self.has, self.until, self.max_import, self.max_export, self.lim_flags]

    def restore(self, snap):
        self.p, self.q, self.has, self.until, self.max_import, self.max_export, self.lim_flags = snap
