# SLAC link test helper (MicroPython): one role (ev or evse) of our SLAC state machines on a raw
# socket, driven by select.poll until matched, failed or the time is up. argv-free: the test passes
# ROLE, IFACE, MAC, ATTEN ({mac text: dB}: the simulated modem's table), RUN_MS, THRESHOLD, DROP
# (frame numbers to drop on send, to lose MMEs), DUP (frame numbers sent twice) through globals set
# before run().
import json
import select
import time
import plc
from slac import mme as m
from slac import evse as E
from slac import ev as V


def run(role, iface, mac, atten=None, run_ms=15000, threshold=40, drop=(), dup=(), keep_ms=0, pcap=None):
    table = {plc.parse_mac(k): v for k, v in (atten or {}).items()}
    cap = plc.Pcap(pcap, time.ticks_us) if pcap else None
    link = plc.RawLink(iface, plc.parse_mac(mac), table, profiles=(role == "evse"), pcap=cap)
    sent = [0]
    log = []

    def send(tx, n):
        sent[0] += 1
        k = sent[0]
        t = tx[15] | (tx[16] << 8)
        if k in drop:
            log.append([time.ticks_ms() - t0, "drop", m.mmtype_name(t)])
            return
        log.append([time.ticks_ms() - t0, "tx", m.mmtype_name(t)])
        link.send(tx, n)
        if k in dup:
            link.send(tx, n)

    t0 = time.ticks_ms()
    if role == "evse":
        sm = E.EvseSlac(link.mac, send, time, threshold)
        nmk = bytes(range(16))
        sm.set_key(m.nid_from_nmk(nmk), nmk)
        sm.enable(t0)
        done = (E.MATCHED, E.FAILED)
    else:
        sm = V.EvSlac(link.mac, send, time, threshold)
        sm.start(t0)
        done = (V.MATCHED, V.FAILED)
    p = select.poll()
    p.register(link.sock, select.POLLIN)
    rx = m.Rx()
    buf = bytearray(m.MAX_FRAME)
    worst_us = 0
    end_ms = None
    while time.ticks_diff(time.ticks_ms(), t0) < run_ms:
        p.poll(5)
        while True:
            n = link.recv(buf)
            if not n:
                break
            a = time.ticks_us()
            t = m.parse(rx, buf, n)
            if t >= 0:
                if role == "evse" and t == m.CM_SLAC_MATCH | m.REQ:
                    log.append([time.ticks_ms() - t0, "rx", m.mmtype_name(t)])
                sm.on_frame(rx, t, time.ticks_ms())
            worst_us = max(worst_us, time.ticks_diff(time.ticks_us(), a))
        sm.poll(time.ticks_ms())
        if role == "evse" and sm.state == E.MATCHED:
            sm.link_up()
        if sm.state in done and end_ms is None:
            end_ms = time.ticks_ms()
        if end_ms is not None and time.ticks_diff(time.ticks_ms(), end_ms) >= keep_ms:
            break
    st = sm.status()
    st["role"] = role
    st["nid"] = bytes(sm.nid).hex()
    st["nmk"] = bytes(sm.nmk).hex()
    st["link"] = link.stats()
    st["codec_errors"] = rx.error_counts()
    st["worst_frame_us"] = worst_us
    st["log"] = log
    link.close()
    if cap:
        cap.close()
    print("RESULT " + json.dumps(st))
