"""A simulated Modbus TCP wallbox on `pymodbus` for the protocol bridge (tests, `jezgro sim --config
bridge`): a Modbus TCP server whose holding/input registers follow one of the bridge's register maps
(firmware/bridge/maps/*.json), driven from the host (vehicle state, energy), reporting the current limit
the gateway wrote, and able to send broken responses on demand (fault injection)."""
from __future__ import annotations

import asyncio
import json
import logging
import struct
import threading
from pathlib import Path
from typing import Any

from pymodbus.datastore import ModbusDeviceContext, ModbusSequentialDataBlock, ModbusServerContext
from pymodbus.server import ModbusTcpServer

from .mp import FIRMWARE

MAPS = FIRMWARE / "bridge" / "maps"
_FMT = {"u16": "H", "s16": "h", "u32": "I", "s32": "i", "f32": "f", "f64": "d"}


def encode(value: Any, p: dict[str, Any], word_order: str) -> list[int]:
    """A point's value -> its registers, as the wallbox stores them."""
    if p["type"] == "ascii":
        raw = str(value).encode().ljust(2 * p.get("count", 1), b"\0")
    else:
        v = value / p.get("scale", 1)
        raw = struct.pack(">" + _FMT[p["type"]], v if p["type"][0] == "f" else int(v))
    regs = list(struct.unpack(f">{len(raw) // 2}H", raw))
    return regs[::-1] if word_order == "little" and p["type"] != "ascii" else regs


def decode(regs: list[int], p: dict[str, Any], word_order: str) -> Any:
    if word_order == "little":
        regs = regs[::-1]
    v = struct.unpack(">" + _FMT[p["type"]], struct.pack(f">{len(regs)}H", *regs))[0]
    return v * p.get("scale", 1)


class SimWallbox:
    def __init__(self, map_name: str = "alfen_ng9xx.json", port: int = 0):
        self.map = json.loads((MAPS / map_name).read_text())
        self.pts = self.map["points"]
        self.wo = self.map.get("word_order", "big")
        self.port = port
        self.garble = 0  # the next N responses are broken (transaction id changed)
        self.exceptions = 0  # the next N reads of the state register answer an exception (bad address)
        self.requests = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        self.server: Any = None
        # pymodbus 3.16 warns that these classes go in v4 (requirements.txt pins 3.16.1): not the user's concern
        logging.getLogger("pymodbus").setLevel(logging.ERROR)
        block = ModbusSequentialDataBlock(1, [0] * 30000)
        self.ctx = ModbusServerContext(devices={self.map["unit_id"]: ModbusDeviceContext(hr=block, ir=block)})

    def _trace(self, sending: bool, data: bytes) -> bytes:
        if not sending:
            self.requests += 1
            if self.exceptions and len(data) >= 10:
                addr = struct.unpack(">H", data[8:10])[0]
                if addr == self.pts["state"]["addr"]:
                    self.exceptions -= 1
                    # the same request for an address past the device's registers: pymodbus answers exception 2
                    return data[:8] + struct.pack(">H", 65530) + data[10:]
            return data
        if self.garble > 0 and len(data) >= 2:
            self.garble -= 1
            return bytes([data[0] ^ 0x55, data[1] ^ 0x55]) + data[2:]
        return data

    def start(self) -> "SimWallbox":
        ready = threading.Event()

        async def serve() -> None:
            self.server = ModbusTcpServer(self.ctx, address=("127.0.0.1", self.port), trace_packet=self._trace)
            task = asyncio.ensure_future(self.server.serve_forever())
            while self.server.transport is None:
                await asyncio.sleep(0.01)
            self.port = self.server.transport.sockets[0].getsockname()[1]
            ready.set()
            await task

        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_until_complete, args=(serve(),), daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("simulated wallbox did not start")
        self.set_state(next(k for k, v in self.pts["state"]["states"].items() if v == "A"))
        self.set("current_limit_a", self.pts["current_limit_a"].get("default", 16))
        if "energy_wh" in self.pts:
            self.set("energy_wh", 0)
        return self

    def stop(self) -> None:
        if self.loop is not None and self.server is not None:
            asyncio.run_coroutine_threadsafe(self.server.shutdown(), self.loop).result(10)
            self._thread.join(10)

    def _regs(self, p: dict[str, Any], values: list[int] | None = None) -> list[int]:
        assert self.loop is not None
        unit = self.map["unit_id"]
        fc = p.get("fn", 3)
        if values is None:
            return asyncio.run_coroutine_threadsafe(
                self.server.context.async_getValues(unit, fc, p["addr"], len(encode(0 if p["type"] != "ascii" else "",
                                                                                   p, self.wo))), self.loop).result(5)
        asyncio.run_coroutine_threadsafe(self.server.context.async_setValues(unit, fc, p["addr"], values),
                                         self.loop).result(5)
        return values

    def set(self, point: str, value: Any) -> None:
        p = self.pts[point]
        self._regs(p, encode(value, p, self.wo))

    def set_state(self, raw: str) -> None:
        self.set("state", raw)

    def get(self, point: str) -> Any:
        return decode(self._regs(self.pts[point]), self.pts[point], self.wo)


def map_path(name: str) -> Path:
    return MAPS / name


def drive(w: SimWallbox, stop: threading.Event, step_s: float = 1.0) -> None:
    """The simulation's wallbox scenario until stop is set: a vehicle plugs in, charges (11 kW: the energy
    register rises), leaves; again."""
    def run() -> None:
        wh = 0.0
        states = {v: k for k, v in reversed(list(w.pts["state"]["states"].items()))}  # first raw value per state
        while not stop.is_set():
            for st, n in (("A", 2), ("B", 1), ("C", 6), ("A", 1)):
                w.set_state(states[st])
                for _ in range(n):
                    if st == "C" and "energy_wh" in w.pts:
                        wh += 11000 * step_s / 3600
                        w.set("energy_wh", round(wh, 1))
                    if stop.wait(step_s):
                        return
    threading.Thread(target=run, daemon=True).start()
