# The offline fallback limit (ocpp.json "offline_fallback": {"after_s", "limit_w", "export_w"}): once the
# CSMS has been away for after_s, POWER_MGR's back-office limit is capped at limit_w import and export_w
# export on top of the composite schedule, until the CSMS is back. Without it the last composite
# schedule would hold for as long as the outage lasts: a CSMS that raised the limit for an hour of
# cheap energy, or a site load manager that counts on being asked, would be bypassed indefinitely.
# OCPP 2.0.1 has no variable for this (docs/reliability.md: why a provisioning key and not the
# device model). Entering and leaving are audited (EV_OCPP_FALLBACK, the text says which) and shown in
# OCPP_CLIENT's status.
from jezgro.const import EV_OCPP_FALLBACK


class Fallback:
    def __init__(self, cl):
        self.cl = cl
        self.cfg = cl.cfg.get("offline_fallback")  # None: not configured
        self.active = False
        self.engaged = 0      # how often it came into force
        self.since_ms = 0     # when it last came into force (ticks_ms)

    def update(self):
        # -> True while the fallback is in force; audits the changes
        cfg = self.cfg
        cl = self.cl
        on = (cfg is not None and not cl.connected and
              cl.since(cl.offline_since_ms) >= cfg["after_s"] * 1000)
        if on != self.active:
            self.active = on
            if on:
                self.engaged += 1
                self.since_ms = cl.now()
                text = "CSMS away %d s: fallback limit %d W import, %d W export" % (
                    cl.since(cl.offline_since_ms) // 1000, cfg["limit_w"], cfg["export_w"])
            else:
                text = "CSMS back after %d s of fallback" % (cl.since(self.since_ms) // 1000)
            cl.ctx.audit(EV_OCPP_FALLBACK, 0, text)  # the text says which way
        return on

    def combine(self, lim):
        # the composite-schedule limit (W, signed: < 0 a V2G period, None: none) with the fallback when in
        # force -> (max import W, max export W, LIM_* flags) for POWER_LIMITS (flags 0: no limit)
        import msgs
        imp = exp = 0
        flags = 0
        if lim is not None:
            # a positive limit caps the import; a negative one allows no import and caps the export
            flags = msgs.LIM_IMPORT if lim >= 0 else msgs.LIM_IMPORT | msgs.LIM_EXPORT
            imp = lim if lim > 0 else 0
            exp = -lim if lim < 0 else 0
        if self.active:
            cfg = self.cfg
            imp = cfg["limit_w"] if lim is None or cfg["limit_w"] < imp else imp
            exp = cfg["export_w"] if not flags & msgs.LIM_EXPORT or cfg["export_w"] < exp else exp
            flags = msgs.LIM_IMPORT | msgs.LIM_EXPORT
        return imp, exp, flags

    def status(self):
        if self.cfg is None:
            return None
        cl = self.cl
        return {"after_s": self.cfg["after_s"], "limit_w": self.cfg["limit_w"], "export_w": self.cfg["export_w"],
                "active": self.active, "engaged": self.engaged,
                "active_for_ms": cl.since(self.since_ms) if self.active else 0}
