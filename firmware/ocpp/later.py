# Operations that OCPP wants answered first and carried out afterwards (a Reset,
# a RequestStartTransaction, a ReserveNow...), or only once the station is idle
# (Reset OnIdle, ChangeAvailability while a transaction runs): one typed slot
# each, written by the operation's handle() and taken by its after() or by the
# transaction that ends.
class Later:
    def __init__(self):
        self.reset_kind = None  # Reset accepted: its type; the client resets once the queue is out
        self.reset_at_ms = 0  # ... when it was accepted (RESET_FLUSH_MS bounds the wait)
        self.reset_on_idle = False  # Reset OnIdle answered Scheduled: reset when the last transaction ends
        self.reservation = None  # ReserveNow accepted: (id, evse, until, idToken, groupIdToken)
        self.start = None  # RequestStartTransaction accepted: (evse, idToken, remoteStartId)
        self.availability = None  # ChangeAvailability accepted: (evse ids, operationalStatus)
        self.availability_on_idle = None  # ... answered Scheduled: applied when the transaction ends

    def take(self, name):
        # the slot's value, emptied
        v = getattr(self, name)
        setattr(self, name, None)
        return v
