"""The protocol-bridge configuration as a running gateway process for `jezgro sim --config bridge` and the
bridge tests: writes bridge.json (a free port, the chargers) and the OCPP 2.0.1 provisioning into the board
filesystem, runs boards/unix/simmain.py --config bridge on wall-clock time, stops it cleanly (stop file)
and returns its SUMMARY."""
from __future__ import annotations

import contextlib
import json
import socket
import subprocess
from pathlib import Path
from typing import Any, Iterator

from . import mp
from .mp import ROOT, UNIX_BOARD

# two chargers of the simulation: three-phase 16 A and single-phase 32 A (the A <-> W conversions differ)
SIM_CHARGERS = [{"id": "CP-A", "password": "cp-a-secret-0123456789", "phases": 3, "voltage": 230, "rate_unit": "A"},
                {"id": "CP-B", "password": "cp-b-secret-0123456789", "phases": 1, "voltage": 230, "rate_unit": "A"}]
# OCPP 2.0.1 device model for short runs: quick reconnects, no aligned meter values of the gateway itself
FAST_DM = {"OCPPCommCtrlr.RetryBackOffWaitMinimum": "1", "OCPPCommCtrlr.RetryBackOffRandomRange": "0",
           "OCPPCommCtrlr.RetryBackOffRepeatTimes": "1", "OCPPCommCtrlr.OfflineThreshold": "1",
           "OCPPCommCtrlr.MessageTimeout": "5", "AlignedDataCtrlr.Interval": "0"}


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def provision(fs: Path, chargers: list[dict[str, Any]], port: int | None = None, **extra: Any) -> dict[str, Any]:
    """Write <fs>/bridge.json (unless there is one) and the fast device model; -> the bridge config."""
    fs.mkdir(parents=True, exist_ok=True)
    path = fs / "bridge.json"
    if path.exists():
        return json.loads(path.read_text())
    cfg = {"source": "ocpp16", "host": "127.0.0.1", "port": port or free_port(), "heartbeat_s": 60,
           "chargers": chargers, **extra}
    for c in chargers:
        m = c.get("modbus", {}).get("map")
        if m and not (fs / m).exists():  # the example maps ship with the firmware (firmware/bridge/maps)
            (fs / m).write_text((mp.FIRMWARE / "bridge" / "maps" / m).read_text())
    path.write_text(json.dumps(cfg))
    dm = fs / "ocpp_dm.json"
    if not dm.exists():
        dm.write_text(json.dumps(FAST_DM))
    return cfg


class BridgeProcess:
    def __init__(self, fs: Path, csms_url: str, station_id: str = "GW-BRIDGE", seconds: float = 600,
                 inject: list[str] | None = None, heap: str = "2M"):
        self.fs = Path(fs)
        self.args = [str(UNIX_BOARD / "simmain.py"), "--config", "bridge", "--fs", str(self.fs), "--wall",
                     "--seconds", str(seconds), "--scenario", "none", "--stop-file", "stop",
                     "--status-ms", "200", "--csms", csms_url, "--station-id", station_id]
        for i in inject or []:
            self.args += ["--inject", i]
        self.heap = heap
        self.proc: Any = None

    def start(self) -> "BridgeProcess":
        try:
            (self.fs / "stop").unlink()
        except FileNotFoundError:
            pass
        self.proc = mp.start(self.args, heap=self.heap, fs_root=self.fs, cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        return self

    def stop(self, timeout: float = 30) -> dict[str, Any]:
        (self.fs / "stop").write_text("")
        out, err = self.proc.communicate(timeout=timeout)
        for line in out.splitlines():
            if line.startswith("SUMMARY "):
                s = json.loads(line[8:])
                s["stderr"] = err
                return s
        raise RuntimeError(f"bridge rc={self.proc.returncode}\nstdout:\n{out[-3000:]}\nstderr:\n{err[-3000:]}")

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()


@contextlib.contextmanager
def running(tmp: Path, chargers: list[dict[str, Any]] | None = None, inject: list[str] | None = None,
            **bridge_extra: Any) -> Iterator[tuple[Any, Any, Any]]:
    """A local CSMS (`ocpp` v201), the bridge gateway and a fleet of simulated 1.6J chargers (not yet
    connected). Yields (csms, fleet, stop); stop() ends fleet and gateway and returns the SUMMARY."""
    from .chargers16 import Fleet
    from .csms import Csms
    tmp.mkdir(parents=True, exist_ok=True)
    csms = Csms(log_path=tmp / "csms.jsonl", heartbeat_s=60).start()
    fs = tmp / "fs"
    cfg = provision(fs, chargers or SIM_CHARGERS, **bridge_extra)
    gw = BridgeProcess(fs, csms.url, inject=inject).start()
    fleet = Fleet(f"ws://127.0.0.1:{cfg['port']}", cfg["chargers"], tmp / "chargers.jsonl").start()
    out: dict[str, Any] = {}

    def stop() -> dict[str, Any]:
        if "summary" not in out:
            fleet.stop()
            out["summary"] = gw.stop()
        return out["summary"]
    try:
        yield csms, fleet, stop
    finally:
        try:
            stop()
        finally:
            csms.stop()


@contextlib.contextmanager
def running_booted(tmp: Path) -> Iterator[tuple[Any, Any, Any]]:
    """running() with the two simulated chargers connected and booted (the CSMS -> charger tests)."""
    with running(tmp) as b:
        for cid in ("CP-A", "CP-B"):
            b[1].connect(cid)
            b[1].boot(cid)
        yield b
