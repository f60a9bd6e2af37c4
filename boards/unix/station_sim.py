# Simulation only: a station controller on the simulated CAN-FD bus (canudp, python-can's wire format),
# driven by a script (`jezgro sim --station FILE`): simmain adds it as STATION_SIM (LOW). It builds
# STATION_CMD with the firmware's codec (the independent peer is the python-can + cantools station of
# tests_host/test_can_station.py and `jezgro can send`) and counts what the gateway sends, per id.
#   Script: {"steps": [{"at": 2.0, "p": -5000, "q": 0, "mode": 1, "timeout_ms": 500, "period_ms": 100},
#                      {"at": 6.0, "stop": true},
#                      {"at": 7.0, "bad": "crc" | "length" | "stale" | "jump" | "mode" | "garbage"}]}
#   A command step repeats its frame every period_ms (counter + 1 each) until the next command or stop.
import array
import json
import board
import canudp
from micropython import const
from canbus import codec, tables as T
from jezgro.const import PRIO_LOW
from jezgro.service import ServiceSpec

NAME = "STATION_SIM"
CFG = {"steps": []}
OUT: dict = {"sent": 0, "bad_sent": {}, "rx": {}, "rx_first_ms": {}, "rx_last_ms": {}, "stop_ms": None,
             "expired_seen_ms": None, "faults": [], "errors": [], "v2g": None}
POLL_MS = const(5)


def load(path):
    with open(path) as f:
        d = json.loads(f.read())
    steps = d["steps"] if isinstance(d, dict) else d
    CFG["steps"] = sorted(steps, key=lambda s: s["at"])


def spec(sid):
    return ServiceSpec(sid, NAME, PRIO_LOW, 4, 16, 2000000, "station_sim", "Simulated station controller",
                       max_restarts=1, period_s=60)


class Station:
    def __init__(self, bus):
        self.bus = bus
        self.vals = array.array("i", bytes(4 * (len(T.STATION_CMD_SIGS) // 3)))
        self.buf = bytearray(16)
        self.counter = 0
        self.meta = array.array("i", bytes(4 * (canudp.NF + 3)))
        self.gw = array.array("i", bytes(4 * 9))

    def frame(self, p, q, mode, timeout_ms, counter):
        v = self.vals
        v[T.STATION_CMD_POWER_SETPOINT] = p
        v[T.STATION_CMD_REACTIVE_SETPOINT] = q
        v[T.STATION_CMD_MODE] = mode
        v[T.STATION_CMD_COUNTER] = counter & 15
        v[T.STATION_CMD_TIMEOUT] = timeout_ms
        v[T.STATION_CMD_CRC] = 0
        b = self.buf
        for i in range(16):
            b[i] = 0
        codec.pack(b, T.STATION_CMD_SIGS, v)
        b[15] = codec.crc8(T.STATION_CMD, b, 15)
        return b

    def send_cmd(self, st):
        self.counter = (self.counter + 1) & 15
        b = self.frame(st.get("p", 0), st.get("q", 0), st.get("mode", 1), st.get("timeout_ms", 500), self.counter)
        self.bus.send(T.STATION_CMD, b, 16, True)
        OUT["sent"] += 1

    def send_bad(self, kind, cmd):
        c = cmd or {}
        if kind == "garbage":
            self.bus.sock.sendto(b"\x93\x01\x02", self.bus.addr)  # a msgpack array, not a frame
        else:
            counter = self.counter if kind == "stale" else (self.counter + 8 if kind == "jump" else self.counter + 1)
            b = self.frame(c.get("p", 0), c.get("q", 0), 9 if kind == "mode" else c.get("mode", 1),
                           c.get("timeout_ms", 500), counter)
            if kind == "crc":
                b[15] ^= 0x5A
            if kind == "mode":
                self.counter = counter & 15
            self.bus.send(T.STATION_CMD, b, 8 if kind == "length" else 16, kind != "length")
        OUT["bad_sent"][kind] = OUT["bad_sent"].get(kind, 0) + 1

    def receive(self, now):
        while True:
            d = self.bus.recv(self.meta)
            if d is None:
                return
            if d is False:
                continue
            cid = self.meta[0]
            if cid == T.STATION_CMD:
                continue  # our own, echoed
            key = "0x%03x" % cid
            OUT["rx"][key] = OUT["rx"].get(key, 0) + 1
            if key not in OUT["rx_first_ms"]:
                OUT["rx_first_ms"][key] = now
            OUT["rx_last_ms"][key] = now
            at = self.meta[2]
            if cid == T.GW_STATUS:
                codec.unpack(memoryview(d)[at:at + 8], T.GW_STATUS_SIGS, self.gw)
                if self.gw[T.GW_STATUS_CMD_EXPIRED] and OUT["stop_ms"] is not None and OUT["expired_seen_ms"] is None:
                    OUT["expired_seen_ms"] = now
            elif cid == T.GW_V2G:
                v = array.array("i", bytes(24))
                codec.unpack(memoryview(d)[at:at + 8], T.GW_V2G_SIGS, v)
                OUT["v2g"] = list(v)  # the last one: enabled, level, protocol, SoC, energy Wh, serial
            elif cid == T.GW_FAULT:
                v = array.array("i", bytes(20))
                codec.unpack(memoryview(d)[at:at + 8], T.GW_FAULT_SIGS, v)
                OUT["faults"].append([now, v[0], v[1], v[2]])


async def main(ctx):
    bus = canudp.Bus(board.CAN_PORT)
    s = Station(bus)
    steps = list(CFG["steps"])
    t0 = ctx.ticks_ms()
    cmd = None
    next_ms = 0
    try:
        while True:
            ctx.feed()
            now = ctx.ticks_ms()
            t = ctx.ticks_diff(now, t0)
            while steps and steps[0]["at"] * 1000 <= t:
                st = steps.pop(0)
                if st.get("stop"):
                    cmd = None
                    OUT["stop_ms"] = now
                    OUT["expired_seen_ms"] = None
                elif "bad" in st:
                    s.send_bad(st["bad"], cmd)
                else:
                    cmd = st
                    next_ms = now
            if cmd is not None and ctx.ticks_diff(now, next_ms) >= 0:
                s.send_cmd(cmd)
                next_ms = ctx.ticks_add(next_ms, cmd.get("period_ms", 100))
            s.receive(now)
            await ctx.sleep_ms(POLL_MS)
    finally:
        bus.close()
