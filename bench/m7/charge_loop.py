# Guest half of `make bench`'s charge-loop response on the emulated Cortex-M7 (host_tools/jezgro_host/
# m7bench.py sends bench/v2g_pipe.py and then this file to the frozen firmware on qemu -icount shift=0,
# where time.ticks_us() counts thousands of instructions). Our EVCC and SECC run whole sessions through
# the in-process link; for every charge-loop request the SECC answers, the instructions from taking the
# framed request off the link (V2GTP header check, EXI decode, session state, EXI encode, V2GTP framing)
# to handing the framed response to the link. The qemu port has no network stack: m7bench.py first
# installs an empty stand-in `socket` module, only imported (the link is v2g_pipe, no socket is made).
import gc
import json
import time

from iso15118.evcc.ev_model import EvModel
from iso15118.evcc import session as evcc_session
from iso15118.secc.evse_limits import EvseLimits
from iso15118.secc import session as secc_session
from exi import schemas

LOOP_NAMES = ("CurrentDemandReq", "ChargingStatusReq", "DC_ChargeLoopReq", "AC_ChargeLoopReq")


class TimedEnd(MemEnd):  # noqa: F821 - MemEnd comes from bench/v2g_pipe.py, sent first
    # the SECC's end: from the framed request taken off the link (MemEnd.t_in) to its response handed back
    def __init__(self):
        super().__init__()
        self.resp_us = []

    async def send(self, ctx, payload_type, payload, timeout_ms=2000):
        await super().send(ctx, payload_type, payload, timeout_ms)
        self.resp_us.append(time.ticks_diff(time.ticks_us(), self.t_in))


def run_pair(name, loops):
    ns, service = evcc_session.PROTOCOL_NAMES[name]
    for n in schemas.MODULES:
        schemas.release(n)
    gc.collect()
    ev = EvModel(energy_service=service, loops=loops, loop_ms=0, soc=20, target_soc=95)
    secc_end, evcc_end = TimedEnd(), MemEnd()  # noqa: F821
    secc_end.peer, evcc_end.peer = evcc_end, secc_end
    secc = secc_session.SeccSession(EvseLimits())
    evcc = evcc_session.EvccSession(ev, [ns])
    ctx = Ctx()  # noqa: F821
    rs, re = drive([secc.run(ctx, secc_end), evcc.run(ctx, evcc_end)])  # noqa: F821
    loop = [us for req, us in zip(rs.requests, secc_end.resp_us) if req in LOOP_NAMES]
    return {"protocol": name, "end": rs.end, "evcc_end": re.end, "loops": len(loop),
            "requests": len(rs.requests), "loop_us": loop, "heap_free": gc.mem_free()}


def measure(names, loops):
    # every protocol both roles support (bench/v2g_loop_bench.py shows which on the unix port)
    print("RESULT " + json.dumps([run_pair(name, loops) for name in names]))
