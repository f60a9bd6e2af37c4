"""`jezgro csms`: a local OCPP 2.0.1 CSMS on the `ocpp` package (v201, schema validation on in both
directions) over `websockets`, for the gateway simulation, the OCPP tests and manual driving.

Every OCPP-J message in either direction is logged as one JSON Lines record
{"t": unix seconds, "station": id, "dir": "rx"|"tx", "msg": [...]} (unparseable text is logged as "raw").
Stations may connect with security profile 0/1 (ws://, optional Basic auth) or 2/3 (wss://, TLS; 3 = client
certificate required). `Csms` runs in a background thread so tests and the interactive console can drive it.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import json
import ssl
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import websockets
from websockets.asyncio.server import serve
from ocpp.charge_point import camel_to_snake_case
from ocpp.exceptions import InternalError
from ocpp.v201 import ChargePoint, call, call_result
from .errors import ToolError, UserError

CHARGER_ACTIONS = ("BootNotification", "Heartbeat", "StatusNotification", "TransactionEvent", "MeterValues",
                   "NotifyReport", "Authorize", "SecurityEventNotification", "NotifyEVChargingNeeds",
                   "NotifyEVChargingSchedule", "Get15118EVCertificate", "GetCertificateStatus",
                   "ReportChargingProfiles", "DataTransfer", "ReservationStatusUpdate", "NotifyChargingLimit")


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


class _LoggedConnection:
    """The websocket as the ocpp ChargePoint sees it, logging every message."""

    def __init__(self, ws: Any, csms: "Csms", station: str):
        self.ws = ws
        self.csms = csms
        self.station = station

    async def recv(self) -> str:
        m = await self.ws.recv()
        self.csms.log(self.station, "rx", m)
        return m

    async def send(self, m: str) -> None:
        self.csms.log(self.station, "tx", m)
        await self.ws.send(m)


class Station(ChargePoint):
    """One connected charging station: answers its requests (per CSMS policy) and is driven by `Csms`."""

    def __init__(self, sid: str, conn: _LoggedConnection, csms: "Csms"):
        super().__init__(sid, conn, response_timeout=csms.response_timeout)
        self.csms = csms
        for action in CHARGER_ACTIONS:
            # The per-instance equivalent of an @on(action) method.
            self.route_map[action] = {"_on_action": self._make_handler(action), "_skip_schema_validation": False}

    def _make_handler(self, action: str):
        async def handler(**kw: Any) -> Any:
            c = self.csms
            if c.fail_next.get(action, 0) > 0:  # fault injection: answer with a CALLERROR
                c.fail_next[action] -= 1
                raise InternalError(description="injected failure")
            if c.delay.get(action):  # fault injection: answer late (after the station's MessageTimeout)
                await asyncio.sleep(c.delay[action])
            return getattr(call_result, action)(**c.answer(self.id, action, kw))
        return handler


class Csms:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, log_path: str | Path | None = None,
                 passwords: dict[str, str] | None = None, certfile: str | None = None, keyfile: str | None = None,
                 client_ca: str | None = None, heartbeat_s: int = 300, boot_status: str = "Accepted",
                 response_timeout: float = 10):
        self.host = host
        self.port = port
        self.log_path = Path(log_path) if log_path else None
        self.passwords = passwords  # None: no authentication required
        self.certfile, self.keyfile, self.client_ca = certfile, keyfile, client_ca
        self.heartbeat_s = heartbeat_s
        self.boot_status = boot_status
        self.response_timeout = response_timeout
        self.stations: dict[str, Station] = {}
        self.records: list[dict[str, Any]] = []
        self.auth_failures = 0
        self.connections = 0
        self.tls_versions: list[str] = []  # negotiated TLS version of each wss connection, in order
        self.refuse = False  # True: drop every connection attempt (outage simulation)
        self.loop: asyncio.AbstractEventLoop | None = None
        self._server: Any = None
        self._lock = threading.Lock()
        self._fh = open(self.log_path, "a", buffering=1) if self.log_path else None
        self.tx_ids: set[str] = set()
        self.fail_next: dict[str, int] = {}  # action -> how many requests to answer with InternalError
        self.delay: dict[str, float] = {}  # action -> seconds to wait before answering

    # --- logging ---------------------------------------------------------------------------------
    def log(self, station: str, direction: str, text: str) -> None:
        rec: dict[str, Any] = {"t": round(time.time(), 3), "station": station, "dir": direction}
        try:
            rec["msg"] = json.loads(text)
        except ValueError:
            rec["raw"] = text if isinstance(text, str) else repr(text)
        with self._lock:
            self.records.append(rec)
            if self._fh:
                self._fh.write(json.dumps(rec) + "\n")

    def calls(self, action: str, station: str | None = None) -> list[dict[str, Any]]:
        """Payloads of CALLs the station(s) sent with this action, in order."""
        with self._lock:
            return [r["msg"][3] for r in self.records if r["dir"] == "rx" and isinstance(r.get("msg"), list)
                    and len(r["msg"]) == 4 and r["msg"][0] == 2 and r["msg"][2] == action
                    and (station is None or r["station"] == station)]

    def errors_sent(self) -> list[list[Any]]:
        """CALLERRORs this CSMS sent (e.g. schema violations in station requests)."""
        with self._lock:
            return [r["msg"] for r in self.records if r["dir"] == "tx" and isinstance(r.get("msg"), list)
                    and r["msg"][0] == 4]

    # --- policy: answers to station requests ----------------------------------------------------
    def answer(self, station: str, action: str, kw: dict[str, Any]) -> dict[str, Any]:
        if action == "BootNotification":
            return {"current_time": now_iso(), "interval": self.heartbeat_s, "status": self.boot_status}
        if action == "Heartbeat":
            return {"current_time": now_iso()}
        if action == "TransactionEvent":
            self.tx_ids.add(kw["transaction_info"]["transaction_id"])
            if "id_token" in kw:
                return {"id_token_info": {"status": "Accepted"}}
            return {}
        if action == "Authorize":
            return {"id_token_info": {"status": "Accepted"}}
        if action == "DataTransfer":
            return {"status": "UnknownVendorId"}
        if action == "Get15118EVCertificate":
            return {"status": "Accepted", "exi_response": kw["exi_request"]}
        if action == "GetCertificateStatus":
            return {"status": "Accepted", "ocsp_result": "MIIB"}
        if action == "NotifyEVChargingNeeds":
            return {"status": "Accepted"}
        if action == "NotifyEVChargingSchedule":
            return {"status": "Accepted"}
        return {}

    # --- server ----------------------------------------------------------------------------------
    def _ssl(self) -> ssl.SSLContext | None:
        if not self.certfile:
            return None
        c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        c.load_cert_chain(self.certfile, self.keyfile)
        if self.client_ca:
            c.verify_mode = ssl.CERT_REQUIRED
            c.load_verify_locations(self.client_ca)
        return c

    def _check(self, connection: Any, request: Any) -> Any:
        if self.refuse:
            return connection.respond(503, "CSMS unavailable\n")
        if self.passwords is None:
            return None
        sid = request.path.rstrip("/").rsplit("/", 1)[-1]
        want = self.passwords.get(sid)
        hdr = request.headers.get("Authorization", "")
        ok = False
        if want is not None and hdr.startswith("Basic "):
            try:
                ok = base64.b64decode(hdr[6:]).decode() == f"{sid}:{want}"
            except ValueError:
                ok = False
        if not ok:
            self.auth_failures += 1
            return connection.respond(401, "Unauthorized\n")
        return None

    async def _on_connect(self, ws: Any) -> None:
        from urllib.parse import unquote
        sid = unquote(ws.request.path.rstrip("/").rsplit("/", 1)[-1])
        if ws.subprotocol != "ocpp2.0.1":
            await ws.close(1002, "ocpp2.0.1 required")
            return
        self.connections += 1
        tls = ws.transport.get_extra_info("ssl_object")
        if tls is not None:
            self.tls_versions.append(tls.version())
        st = Station(sid, _LoggedConnection(ws, self, sid), self)
        self.stations[sid] = st
        try:
            await st.start()
        except websockets.ConnectionClosed:
            pass
        finally:
            if self.stations.get(sid) is st:
                del self.stations[sid]

    async def _serve(self, ready: threading.Event) -> None:
        try:
            self._server = await serve(self._on_connect, self.host, self.port, subprotocols=["ocpp2.0.1"],
                                       process_request=self._check, ssl=self._ssl(), ping_interval=None)
        except (OSError, ValueError, OverflowError) as e:  # port taken, bad address, unreadable certificate
            self._start_error = e
            ready.set()
            return
        self.port = self._server.sockets[0].getsockname()[1]
        ready.set()
        await self._server.wait_closed()

    def start(self) -> "Csms":
        ready = threading.Event()
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_until_complete, args=(self._serve(ready),),
                                        daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise ToolError(f"the CSMS did not start on {self.host}:{self.port} within 10 s")
        err = getattr(self, "_start_error", None)
        if err is not None:
            why = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
            raise ToolError(f"the CSMS cannot listen on {self.host}:{self.port}: {why}")
        return self

    def stop(self) -> None:
        if self.loop and self._server:
            self.loop.call_soon_threadsafe(self._server.close)
            self._thread.join(5)
        if self._fh:
            self._fh.close()

    def kill(self) -> None:
        """The CSMS dies (process killed, host gone): the listening socket closes and every connection is
        aborted (TCP RST, no WebSocket close frame), so a station sees its link fail, not a clean close.
        A new Csms on the same port (and log) is the CSMS coming back."""
        async def _kill() -> None:
            self._server.close(close_connections=False)
            for st in list(self.stations.values()):
                st._connection.ws.transport.abort()
            await self._server.wait_closed()
        if self.loop and self._server:
            self._run(_kill(), 10)
            self._thread.join(5)
        if self._fh:
            self._fh.close()
            self._fh = None

    @property
    def url(self) -> str:
        return f"{'wss' if self.certfile else 'ws'}://{self.host}:{self.port}/ocpp"

    # --- driving (thread-safe) -------------------------------------------------------------------
    def _run(self, coro: Any, timeout: float) -> Any:
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def wait_station(self, sid: str, timeout: float = 15) -> Station:
        t_end = time.time() + timeout
        while time.time() < t_end:
            st = self.stations.get(sid)
            if st is not None:
                return st
            time.sleep(0.05)
        raise TimeoutError(f"station {sid} did not connect")

    def send(self, sid: str, action: str, payload: dict[str, Any], timeout: float = 15) -> Any:
        """CALL `action` with a camelCase payload (validated against the schema); the response, snake_case.
        A CALLERROR raises the matching ocpp exception."""
        st = self.wait_station(sid, timeout)
        req = getattr(call, action)(**camel_to_snake_case(payload))
        return self._run(st.call(req, suppress=False), timeout)

    def send_raw(self, sid: str, text: str, timeout: float = 10) -> None:
        """Put any text on the wire (garbage-input tests): no validation, logged like everything else."""
        st = self.wait_station(sid, timeout)
        self._run(st._connection.send(text), timeout)

    def disconnect(self, sid: str, timeout: float = 10) -> None:
        st = self.stations.get(sid)
        if st is not None:
            self._run(st._connection.ws.close(), timeout)


# --- CLI ---------------------------------------------------------------------------------------------
HELP = """commands (JSON payloads in OCPP camelCase):
  list                                  connected stations
  call STATION ACTION {json}            send any CSMS->station request, e.g. GetVariables
  profile STATION EVSE {chargingProfile json}   SetChargingProfile
  start STATION EVSE IDTOKEN            RequestStartTransaction
  stop STATION TRANSACTION_ID           RequestStopTransaction
  quit"""


def _console(c: Csms) -> None:
    print(HELP, flush=True)
    for line in sys.stdin:
        parts = line.strip().split(" ", 3)
        if not parts or not parts[0]:
            continue
        try:
            if parts[0] == "quit":
                break
            if parts[0] == "list":
                print(sorted(c.stations))
            elif parts[0] == "call":
                print(c.send(parts[1], parts[2], json.loads(parts[3]) if len(parts) > 3 else {}))
            elif parts[0] == "profile":
                print(c.send(parts[1], "SetChargingProfile",
                             {"evseId": int(parts[2]), "chargingProfile": json.loads(parts[3])}))
            elif parts[0] == "start":
                print(c.send(parts[1], "RequestStartTransaction",
                             {"evseId": int(parts[2]), "remoteStartId": int(time.time()) % 100000,
                              "idToken": {"idToken": parts[3], "type": "Central"}}))
            elif parts[0] == "stop":
                print(c.send(parts[1], "RequestStopTransaction", {"transactionId": parts[2]}))
            else:
                print(HELP)
        except Exception as e:  # console: report and keep serving
            print(f"error: {type(e).__name__}: {e}")


def _port(v: str) -> int:
    if not v.isdigit() or not 0 <= int(v) <= 65535:
        raise argparse.ArgumentTypeError(f"{v!r} is not a TCP port (0..65535)")
    return int(v)


def _station_password(v: str) -> tuple[str, str]:
    sid, eq, pw = v.partition("=")
    if not eq or not sid or not pw:
        raise argparse.ArgumentTypeError(f"want STATION=PASSWORD, got {v!r}")
    return sid, pw


def _args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=_port, default=9000)
    ap.add_argument("--log", default="csms.jsonl", help="JSON Lines message log")
    ap.add_argument("--password", action="append", default=[], metavar="STATION=PASSWORD", type=_station_password,
                    help="require Basic auth (profiles 1/2); repeatable")
    ap.add_argument("--cert", help="server certificate (PEM): enables wss:// (profiles 2/3)")
    ap.add_argument("--key", help="server private key (PEM)")
    ap.add_argument("--client-ca", help="require client certificates signed by this CA (profile 3)")
    ap.add_argument("--heartbeat", type=int, default=300, help="interval in the BootNotification response")
    ap.add_argument("--no-console", action="store_true", help="serve only (no stdin commands)")


def add_parser(sub: Any) -> None:
    s = sub.add_parser("csms", help="local OCPP 2.0.1 CSMS (ocpp package, schema validation, JSONL log)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _args(s)
    s.set_defaults(func=run)


def run(a: argparse.Namespace) -> int:
    pw = dict(a.password) if a.password else None
    for opt in ("cert", "key", "client_ca"):
        path = getattr(a, opt)
        if path is not None and not Path(path).is_file():
            raise UserError(f"--{opt.replace('_', '-')} {path}: no such file")
    if bool(a.cert) != bool(a.key):
        raise UserError("--cert and --key go together (wss:// needs both)")
    c = Csms(a.host, a.port, a.log, pw, a.cert, a.key, a.client_ca, a.heartbeat).start()
    print(f"CSMS listening on {c.url}/<station-id>, log {a.log}", flush=True)
    try:
        if a.no_console:
            while True:
                time.sleep(3600)
        _console(c)
    except KeyboardInterrupt:
        pass
    c.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="jezgro csms", description=__doc__)
    _args(ap)
    return run(ap.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())

