# What the SECC's gate (firmware/iso15118/transport/gate.py) needs around it in the gate tests: a clock
# the test moves by hand (Ctx) and an SDP server that answers nothing (the gate only sets .only, polls).
from fake_clock import Clock as Ctx  # noqa: F401


class Sdp:
    only = None
    sock = None

    def poll(self):
        return 0
