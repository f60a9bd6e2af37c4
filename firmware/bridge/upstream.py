# PROTOCOL_B's side of the hand-off: the 2.0.1 messages TRANSLATOR made go out through the
# existing OCPP 2.0.1 client (ocpp.client.Client), one station with one EVSE per charger
# connector. Transaction events go through the client's persistent queue (in order, across
# outages and reboots, `offline: true` when the CSMS was unreachable when they happened);
# status and meter values outside transactions are ordinary CALLs; a CALL TRANSLATOR waits
# for (Authorize, DataTransfer) gets the CSMS's answer, or "offline" at once when there is
# no CSMS to ask, so the charger is never left waiting.
import msgs
from bridge.handoff import BUS, UP_QUEUED, UP_REPLY
from bridge.translate201 import for_charger


def origin(upkey):
    # the inbox key an upstream key was made from ("<charger>/<message id>/<part>")
    return upkey[:upkey.rfind("/")]


class Upstream:
    def __init__(self, cl, bridge_cfg):
        self.cl = cl
        self.bcfg = bridge_cfg
        self.translator = cl.ctx.sid_of("TRANSLATOR")
        self.sent = {"queued": 0, "calls": 0, "asked": 0, "answered_offline": 0, "forwarded": 0, "answered": 0}

    def status(self):
        out = self.cl.status()
        out["bridge"] = self.sent
        return out

    def _wake(self):
        if self.translator >= 0:
            msgs.send_bridge(self.cl.ctx, self.translator, msgs.BRIDGE_REPLY, -1, len(BUS.replies) + len(BUS.csms_in))

    def _reply(self, key, payload, err):
        BUS.replies[key] = [payload, err]
        self._wake()

    def forward(self, cl, mid, action, p):
        # Client.forward: a CSMS request for a charger goes to TRANSLATOR, answered later (Client.late)
        if not for_charger(self.bcfg, action, p):
            return False
        BUS.csms_in.append(["c/" + mid, action, p, cl.now()])
        self.sent["forwarded"] += 1
        self._wake()
        return True

    def tick(self, cl):
        BUS.online = cl.connected and cl.registered
        while BUS.csms_out:
            cl.late.append(BUS.csms_out.pop(0))
            self.sent["answered"] += 1
        while BUS.up:
            upkey, action, p, kind, _ = BUS.up[0]
            if kind == UP_QUEUED:
                if not BUS.online:
                    p["offline"] = True
                cl.call_persistent(action, p)
                self.sent["queued"] += 1
            elif kind == UP_REPLY:
                key = origin(upkey)
                if BUS.online:
                    cl.call(action, p, lambda c, req, res, err, key=key: self._reply(key, res, err))
                    self.sent["asked"] += 1
                else:
                    self._reply(key, None, "offline")
                    self.sent["answered_offline"] += 1
            else:
                if action == "StatusNotification":
                    cl.conn_status[p["evseId"]] = p["connectorStatus"]  # what a reconnect reports again
                cl.call(action, p)
                self.sent["calls"] += 1
            BUS.pop_up()  # only now: a crash above leaves it to be sent (at least once)


def install(cl, bridge_cfg):
    up = Upstream(cl, bridge_cfg)
    cl.ticks.append(up.tick)
    cl.forward = up.forward
    return up
