"""pyslac's EVSE SLAC session as an independent peer for our EV (run inside a network namespace as a
script: `python slac_peer.py IFACE ATTEN_DB`), prints one JSON line with pyslac's session result.

pyslac's EVSE talks to a real Qualcomm modem in two places that a veth has no modem for, so this
script plays that modem (the same parts boards/unix/plc.py SimModem plays for our EVSE):
- CM_SET_KEY.REQ/CNF and the 10 s settle time of SlacEvseSession.evse_set_key(): skipped; the
  session's NMK/NID are set directly, as evse_set_key() would after the modem confirmed.
- CM_ATTEN_PROFILE.IND, which the EVSE's modem sends its host for every CM_MNBC_SOUND.IND it hears:
  a second raw socket on the same interface answers each sound the EV sends with a profile of
  ATTEN_DB; pyslac's ETH_P_ALL socket sees it as the modem's frame.
Everything else is pyslac's own code: SlacEvseSession.evse_slac_parm() and atten_charac_routine()
(CM_SLAC_PARM, CM_START_ATTEN_CHAR, the sounds loop and averaging, CM_ATTEN_CHAR, CM_SLAC_MATCH)."""
from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import sys
import threading
import time

from pyslac.enums import STATE_MATCHED  # type: ignore[import-not-found]
from pyslac.environment import Config  # type: ignore[import-not-found]
from pyslac.session import SlacEvseSession  # type: ignore[import-not-found]
from pyslac.utils import generate_nid  # type: ignore[import-not-found]

ETH_P_HPAV = 0x88E1
MODEM = bytes.fromhex("00b052000001")


def modem(iface: str, db: int, stop: threading.Event, heard: list[int]) -> None:
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_HPAV))
    s.bind((iface, ETH_P_HPAV))
    s.settimeout(0.05)
    host = open(f"/sys/class/net/{iface}/address").read().strip()
    host_mac = bytes.fromhex(host.replace(":", ""))
    while not stop.is_set():
        try:
            f, addr = s.recvfrom(2000)
        except TimeoutError:
            continue
        if addr[2] == socket.PACKET_OUTGOING or len(f) < 19 or f[14] != 1 or f[15:17] != b"\x76\x60":
            continue
        heard.append(f[19 + 19])  # countdown of the sound
        body = f[6:12] + bytes((58, 0)) + bytes(db + (g % 3) - 1 for g in range(58))
        s.send(host_mac + MODEM + b"\x88\xe1\x01\x86\x60\x00\x00" + body)
    s.close()


async def main(iface: str, db: int) -> dict:
    logging.disable(logging.CRITICAL)
    stop = threading.Event()
    heard: list[int] = []
    t = threading.Thread(target=modem, args=(iface, db, stop, heard), daemon=True)
    t.start()
    cfg = Config(slac_init_timeout=20, slac_atten_results_timeout=None)
    sess = SlacEvseSession("JZGW-TEST", iface, cfg)
    sess.nmk = os.urandom(16)
    sess.nid = generate_nid(sess.nmk)
    t0 = time.monotonic()
    out: dict = {"ready": True}
    try:
        print(json.dumps({"ready": True}), flush=True)
        await sess.evse_slac_parm()
        await sess.atten_charac_routine()
    except Exception as e:  # noqa: BLE001 - reported to the test
        out["error"] = f"{type(e).__name__}: {e}"
    stop.set()
    out.update({"matched": sess.state == STATE_MATCHED, "ms": round((time.monotonic() - t0) * 1000),
                "pev_mac": sess.pev_mac.hex(), "nmk": sess.nmk.hex(), "nid": sess.nid.hex(),
                "sounds": sess.num_total_sounds, "aag": list(sess.aag)[:4], "heard": heard})
    return out


if __name__ == "__main__":
    r = asyncio.run(main(sys.argv[1], int(sys.argv[2])))
    print(json.dumps(r), flush=True)
