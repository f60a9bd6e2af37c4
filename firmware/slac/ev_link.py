# The EV's side of matching on a PLC link, as one coroutine: our EV SLAC (slac/ev.py) on a link from
# board.plc_open() until matched or failed, then the EV's own modem is given the EVSE's NID/NMK
# (CM_SET_KEY.REQ, as ISO 15118-3 Table A.8 says: the EV joins the EVSE's logical network). Used by
# `jezgro ev` (iso15118/evcc/ev_sim.py) and the simulation's EV (boards/unix/ev_sim.py).
from micropython import const
import os
from slac import mme as m
from slac.ev import EvSlac, MATCHED, FAILED

MAX_MS = const(15000)          # TT_matching_repetition and the last attempt's timers, with margin
KEY_WAIT_MS = const(500)
MODEM_MAC = b"\x00\xb0\x52\x00\x00\x01"


async def match(ctx, link, modem_mac=MODEM_MAC, threshold_db=40):
    # -> EvSlac.status() (+ codec errors, link stats, whether the modem confirmed the key)
    ev = EvSlac(link.mac, link.send, ctx, threshold_db)
    rx = m.Rx()
    buf = bytearray(m.MAX_FRAME)
    t0 = ctx.ticks_ms()
    ev.start(t0)
    keyed = None
    while ctx.ticks_diff(ctx.ticks_ms(), t0) < MAX_MS:
        ctx.feed()
        n = link.recv(buf)
        while n:
            t = m.parse(rx, buf, n)
            if t == m.CM_SET_KEY | m.CNF:
                keyed = True
            elif t >= 0:
                ev.on_frame(rx, t, ctx.ticks_ms())
            n = link.recv(buf)
        now = ctx.ticks_ms()
        ev.poll(now)
        if ev.state == FAILED or keyed is not None:
            break
        if ev.state == MATCHED and keyed is None:
            keyed = False
            t0 = ctx.ticks_add(now, KEY_WAIT_MS - MAX_MS)     # the key's answer: KEY_WAIT_MS more
            tx = ev.tx
            link.send(tx, m.build_set_key_req(tx, link.mac, modem_mac, ev.nid, ev.nmk, os.urandom(4)))
        if link.sock is not None:
            await ctx.wait_io(link.sock, 1, 5)       # select.POLLIN
        else:
            await ctx.sleep_ms(5)
    st = ev.status()
    st["modem_keyed"] = keyed
    st["codec_errors"] = rx.error_counts()
    st["plc"] = link.stats()
    return st
