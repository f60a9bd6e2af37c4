# Which power setpoint applies: the latest setpoint and limits of each source,
# combined by precedence (PRECEDENCE) and clamped by every present limit.
# Import limits cap positive power, export limits cap negative power. Setpoints
# (POWER_SETPOINT) and limits (POWER_LIMITS) arrive as different messages
# (msgs/catalogue.py) and stay apart here: a limit never becomes a setpoint.
from msgs import N_SOURCES, LIM_IMPORT, LIM_EXPORT, SRC_LOCAL, SRC_OCPP, SRC_ISO15118, SRC_STATION

# Setpoint precedence: the EV's own target (ISO 15118) wins over a station
# command, which wins over the back office; limits from every source apply.
PRECEDENCE = (SRC_ISO15118, SRC_STATION, SRC_OCPP, SRC_LOCAL)


class Arbiter:
    def __init__(self):
        self.p = [0] * N_SOURCES
        self.q = [0] * N_SOURCES
        self.has = [False] * N_SOURCES
        self.until = [0] * N_SOURCES  # ticks_ms expiry of the setpoint, or 0 for none
        self.max_import = [0] * N_SOURCES
        self.max_export = [0] * N_SOURCES
        self.lim_flags = [0] * N_SOURCES
        self.lim_until = [0] * N_SOURCES  # ticks_ms expiry of the limits, or 0 for none
        # The EV's setpoint lapsed (its link went silent mid-session: no request renewed it): nothing
        # moves power through the EV until it speaks again or its session ends, whatever another
        # source commands (a station's discharge command must not outlive the EV's link).
        self.ev_silent = False

    def setpoint(self, src, p, q, expires_ms):
        self.p[src] = p
        self.q[src] = q
        self.has[src] = True
        self.until[src] = expires_ms
        if src == SRC_ISO15118:
            self.ev_silent = False

    def limits(self, src, max_import, max_export, flags, expires_ms=0):
        self.max_import[src] = max_import if max_import > 0 else 0
        self.max_export[src] = max_export if max_export > 0 else 0
        self.lim_flags[src] = flags
        self.lim_until[src] = expires_ms

    def drop(self, src, keep_limits):
        # A source went away: its setpoint no longer applies. Its limits may stay
        # (a back office's cap is still the contract when the link is down).
        self.has[src] = False
        if src == SRC_ISO15118:
            self.ev_silent = False  # the session ended (or its service went): the others apply again
        if not keep_limits:
            self.lim_flags[src] = 0

    def expire(self, now, ticks_diff):
        changed = False
        for s in range(N_SOURCES):
            if self.has[s] and self.until[s] and ticks_diff(now, self.until[s]) >= 0:
                self.has[s] = False
                if s == SRC_ISO15118:
                    self.ev_silent = True
                changed = True
            if self.lim_flags[s] and self.lim_until[s] and ticks_diff(now, self.lim_until[s]) >= 0:
                self.lim_flags[s] = 0
                changed = True
        return changed

    def effective(self):
        # -> (p, q, winning source or -1)
        p = q = 0
        src = -1
        if self.ev_silent:
            return 0, 0, -1
        for s in PRECEDENCE:
            if self.has[s]:
                p, q, src = self.p[s], self.q[s], s
                break
        return self.clamp(p), q, src

    def clamp(self, p):
        # p (W) within every limit in force
        for s in range(N_SOURCES):
            f = self.lim_flags[s]
            if f & LIM_IMPORT and p > self.max_import[s]:
                p = self.max_import[s]
            if f & LIM_EXPORT and p < -self.max_export[s]:
                p = -self.max_export[s]
        return p

    def import_cap(self):
        # -> the most the EV may import (W), or -1 when nothing caps it: the lowest import limit
        # of any source (the back office's composite-schedule limit is one of them).
        cap = -1
        for s in range(N_SOURCES):
            if self.lim_flags[s] & LIM_IMPORT and (cap < 0 or self.max_import[s] < cap):
                cap = self.max_import[s]
        return cap

    def limit_src(self, flag):
        # -> the source of the tightest limit of this kind (LIM_IMPORT or LIM_EXPORT) in force, or -1;
        # its value is max_import[src] / max_export[src]
        best = -1
        vals = self.max_import if flag == LIM_IMPORT else self.max_export
        for s in range(N_SOURCES):
            if self.lim_flags[s] & flag and (best < 0 or vals[s] < vals[best]):
                best = s
        return best

    def station_target(self):
        # the station controller's power command (W) within the limits in force, or None: the EV's
        # target in -20 Dynamic mode (a command beyond a limit would have the EV deliver power the
        # grid side cannot take: the back office's export cap applies to the EV too)
        return self.clamp(self.p[SRC_STATION]) if self.has[SRC_STATION] else None

    def snapshot(self):
        return [self.p, self.q, self.has, self.until, self.max_import, self.max_export, self.lim_flags,
                self.lim_until, self.ev_silent]

    def restore(self, snap):
        (self.p, self.q, self.has, self.until, self.max_import, self.max_export, self.lim_flags,
         self.lim_until, self.ev_silent) = snap
