"""`jezgro can`: the station-controller side of the gateway's CAN-FD protocol, on python-can + cantools
with the firmware's DBC (firmware/canbus/station.dbc).

  jezgro can monitor [--seconds S] [--log FILE.log|.blf]   decode the gateway's frames live
  jezgro can send --p W [--q VAR] [--mode power|standby] [--timeout-ms MS] [--period-ms MS] [--seconds S]
                                                          act as the station controller (then stop sending:
                                                          the command expires after its timeout)
  jezgro can gen                                           regenerate firmware/canbus/tables.py and the
                                                          table of docs/can.md from the DBC

The bus is python-can's udp_multicast interface (the unix port's simulated bus: `jezgro sim --wall`);
--interface/--channel take any other python-can bus (socketcan on a real adapter)."""
from __future__ import annotations

import sys
import threading
import time
from typing import Any
from pathlib import Path

from . import candbc
from .errors import UserError

MODES = {"power": 1, "standby": 2}


def open_bus(interface: str = "udp_multicast", channel: str | None = None, port: int = candbc.DEFAULT_PORT) -> Any:
    import can

    try:
        if interface == "udp_multicast":
            return can.Bus(interface=interface, channel=channel or candbc.DEFAULT_GROUP, port=port, fd=True)
        return can.Bus(interface=interface, channel=channel, fd=True)
    except (can.CanError, ValueError, ImportError) as e:  # unknown interface, no such channel, no driver
        raise UserError(f"cannot open CAN interface {interface!r} (channel {channel!r}): {e}") from None


class StationController:
    """A station controller: sends STATION_CMD every period (counter + 1, CRC) while a command is set,
    and receives and decodes everything the gateway sends (per-id arrival times for rate checks)."""

    def __init__(self, bus: Any, db: Any = None, frame_clocked: bool = False):
        self.bus = bus
        # frame_clocked: send one command per GW_STATUS received (every 100 ms of the gateway's clock),
        # for a gateway simulated in virtual time, which runs faster than the wall clock
        self.frame_clocked = frame_clocked
        self.db = db or candbc.load()
        self.counter = 0
        self.cmd: tuple[int, int, int, int] | None = None
        self.period = 0.1
        self.sent = 0
        self.rx: dict[int, list[float]] = {}
        self.last: dict[str, dict[str, Any]] = {}
        self.decoded: list[tuple[float, str, dict[str, Any]]] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def command(self, p_w: int, q_var: int = 0, mode: int = 1, timeout_ms: int = 500, period_s: float = 0.1) -> None:
        with self._lock:
            self.cmd = (p_w, q_var, mode, timeout_ms)
            self.period = period_s

    def stop_sending(self) -> None:
        with self._lock:
            self.cmd = None

    def send_raw(self, data: bytes, fd: bool = True, frame_id: int = candbc.STATION_CMD) -> None:
        import can

        self.bus.send(can.Message(arbitration_id=frame_id, data=data, is_fd=fd, bitrate_switch=fd,
                                  is_extended_id=False))

    def frame(self, p_w: int, q_var: int, mode: int, timeout_ms: int, counter: int) -> bytes:
        return candbc.station_cmd(self.db, p_w, q_var, mode, counter, timeout_ms)

    def _send_cmd(self) -> None:
        with self._lock:
            cmd = self.cmd
        if cmd is not None:
            self.counter = (self.counter + 1) & 15
            self.send_raw(self.frame(cmd[0], cmd[1], cmd[2], cmd[3], self.counter))
            self.sent += 1

    def _tx(self) -> None:
        nxt = time.monotonic()
        while not self._stop.is_set():
            with self._lock:
                period = self.period
            if not self.frame_clocked:
                self._send_cmd()
            nxt += period
            self._stop.wait(max(0.0, nxt - time.monotonic()))

    def _rx(self) -> None:
        while not self._stop.is_set():
            m = self.bus.recv(0.05)
            if m is None or m.arbitration_id == candbc.STATION_CMD:
                continue
            t = time.monotonic()
            with self._lock:
                self.rx.setdefault(m.arbitration_id, []).append(t)
            try:
                msg = self.db.get_message_by_frame_id(m.arbitration_id)
                d = msg.decode(bytes(m.data), decode_choices=False)
            except Exception as e:  # noqa: BLE001 — a frame the DBC does not describe is a finding, not a crash
                self.errors.append(f"0x{m.arbitration_id:03x}: {e}")
                continue
            with self._lock:
                self.last[msg.name] = d
                self.decoded.append((t, msg.name, d))
            if self.frame_clocked and msg.name == "GW_STATUS":
                self._send_cmd()

    def start(self) -> "StationController":
        for f in (self._tx, self._rx):
            th = threading.Thread(target=f, daemon=True)
            th.start()
            self._threads.append(th)
        return self

    def close(self) -> None:
        self._stop.set()
        for th in self._threads:
            th.join(2)
        self.bus.shutdown()


def _fmt(d: dict[str, Any]) -> str:
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in d.items())


def monitor(a) -> int:
    import can

    db = candbc.load()
    if a.log and not Path(a.log).resolve().parent.is_dir():
        raise UserError(f"--log {a.log}: no such directory")
    bus = open_bus(a.interface, a.channel, a.port)
    writer = can.Logger(a.log) if a.log else None  # .log: candump (CanutilsLogWriter), .blf: Vector BLF
    tty = sys.stdout.isatty()
    rows: dict[int, str] = {}
    counts: dict[int, int] = {}
    end = time.monotonic() + a.seconds if a.seconds else None
    drawn = 0
    try:
        while end is None or time.monotonic() < end:
            m = bus.recv(0.2)
            if m is None:
                continue
            if writer is not None:
                writer.on_message_received(m)
            counts[m.arbitration_id] = counts.get(m.arbitration_id, 0) + 1
            try:
                msg = db.get_message_by_frame_id(m.arbitration_id)
                line = f"0x{m.arbitration_id:03X} {msg.name:<11} {_fmt(msg.decode(bytes(m.data)))}"
            except KeyError:
                line = f"0x{m.arbitration_id:03X} (not in the DBC) {bytes(m.data).hex()}"
            except Exception as e:  # noqa: BLE001 — show a frame that does not decode, keep monitoring
                line = f"0x{m.arbitration_id:03X} undecodable ({e}): {bytes(m.data).hex()}"
            if tty:
                rows[m.arbitration_id] = f"{line}  [{counts[m.arbitration_id]}]"
                if drawn:
                    sys.stdout.write(f"\x1b[{drawn}F\x1b[J")
                out = [rows[k] for k in sorted(rows)]
                sys.stdout.write("\n".join(out) + "\n")
                drawn = len(out)
            else:
                sys.stdout.write(f"{m.timestamp:.3f} {line}\n")
            sys.stdout.flush()
    except KeyboardInterrupt:
        pass
    finally:
        if writer is not None:
            writer.stop()
        bus.shutdown()
    return 0


def check_command(a) -> None:
    """The values of `can send` against the DBC's own signal ranges (STATION_CMD), before a frame goes out."""
    m = candbc.load().get_message_by_frame_id(candbc.STATION_CMD)
    for opt, signal, v in (("--p", "PowerSetpoint", a.p), ("--q", "ReactiveSetpoint", a.q),
                           ("--timeout-ms", "Timeout", a.timeout_ms)):
        sig = m.get_signal_by_name(signal)
        if (sig.minimum is not None and v < sig.minimum) or (sig.maximum is not None and v > sig.maximum):
            raise UserError(f"{opt} {v}: outside {signal}'s range {sig.minimum:g} .. {sig.maximum:g} "
                            f"{sig.unit or ''} (firmware/canbus/station.dbc)".rstrip())
    if a.period_ms < 1:
        raise UserError(f"--period-ms {a.period_ms}: must be at least 1")
    if a.seconds < 0:
        raise UserError(f"--seconds {a.seconds:g}: must not be negative")


def send(a) -> int:
    check_command(a)
    st = StationController(open_bus(a.interface, a.channel, a.port)).start()
    try:
        st.command(a.p, a.q, MODES[a.mode], a.timeout_ms, a.period_ms / 1000)
        time.sleep(a.seconds)
        st.stop_sending()
        print(f"sent {st.sent} STATION_CMD frames; stopped: the command expires {a.timeout_ms} ms after the last")
        if a.watch:
            time.sleep(a.watch)
            s = st.last.get("GW_STATUS", {})
            print(f"GW_STATUS after {a.watch} s: {_fmt(s)}")
    finally:
        st.close()
    return 0


def gen(a) -> int:
    db = candbc.load()
    candbc.TABLES.write_text(candbc.render_tables(db))
    print(f"wrote {candbc.TABLES}")
    if candbc.update_doc(db):
        print(f"updated the DBC table in {candbc.DOC}")
    return 0


def add_parser(sub) -> None:
    s = sub.add_parser("can", help="station CAN-FD: monitor, send (station controller), gen (DBC tables)")
    csub = s.add_subparsers(dest="can_cmd", required=True)
    s.set_defaults(func=lambda a: (s.print_help(), 2)[1])  # each subcommand sets its own

    def bus_opts(p):
        p.add_argument("--interface", default="udp_multicast", help="python-can interface (default udp_multicast)")
        p.add_argument("--channel", default=None, help="python-can channel (udp_multicast: the IPv6 group)")
        p.add_argument("--port", type=int, default=candbc.DEFAULT_PORT, help="udp_multicast port (default 43113)")

    m = csub.add_parser("monitor", help="decode the gateway's frames live with the DBC")
    bus_opts(m)
    m.add_argument("--seconds", type=float, default=0, help="stop after this long (default: Ctrl-C)")
    m.add_argument("--log", default=None, metavar="FILE", help="capture: .log (candump) or .blf")
    m.set_defaults(func=monitor)
    t = csub.add_parser("send", help="act as the station controller: STATION_CMD every period, then stop")
    bus_opts(t)
    t.add_argument("--p", type=int, required=True, help="active power setpoint, W (+ import, - discharge)")
    t.add_argument("--q", type=int, default=0, help="reactive power setpoint, var")
    t.add_argument("--mode", choices=sorted(MODES), default="power")
    t.add_argument("--timeout-ms", type=int, default=500, help="the command's validity (100..60000)")
    t.add_argument("--period-ms", type=int, default=100)
    t.add_argument("--seconds", type=float, default=5, help="send this long, then stop sending")
    t.add_argument("--watch", type=float, default=0, help="after stopping, show GW_STATUS this much later")
    t.set_defaults(func=send)
    g = csub.add_parser("gen", help="regenerate firmware/canbus/tables.py from station.dbc")
    g.set_defaults(func=gen)
