# SecurityEventNotification (A04): the security events this station raises
# (part 2 Appendix 1): start-up, reset, and failed CSMS certificate checks.
from ocpp import clock


def send(cl, kind, info=None):
    p = {"type": kind, "timestamp": clock.iso()}
    if info:
        p["techInfo"] = info[:255]
    cl.call("SecurityEventNotification", p)
