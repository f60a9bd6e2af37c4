"""Simulated OCPP 1.6J chargers on the `ocpp` package (v16 ChargePoint, schema validation on) for the
protocol-bridge configuration: `jezgro sim --config bridge` and the bridge tests. Each charger connects to
the gateway's Central System (ws://host:port/<id>, subprotocol ocpp1.6, Basic Auth id:password) from a
background asyncio thread; every message in either direction is logged {"t", "charger", "dir", "msg"}.
"""
from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


class _Logged:
    def __init__(self, ws: Any, fleet: "Fleet", cid: str):
        self.ws, self.fleet, self.cid = ws, fleet, cid

    async def recv(self) -> str:
        m = await self.ws.recv()
        self.fleet.log(self.cid, "rx", m)
        return m

    async def send(self, m: str) -> None:
        self.fleet.log(self.cid, "tx", m)
        await self.ws.send(m)


class Charger16(ChargePoint):
    """One 1.6J charger: the `ocpp` package's ChargePoint. It answers the Central System's requests like a
    simple AC charger: remote start/stop accepted (the test or scenario then starts/stops the transaction),
    charging profiles kept per connector and reported back as its composite schedule, a small configuration,
    Reset/Unlock/ChangeAvailability/TriggerMessage accepted, one reservation per connector (another id on a
    reserved connector: Occupied), a local authorization list with its version (a Differential that does not
    raise the version: VersionMismatch). Every request is kept in `received`."""

    def __init__(self, *a: Any, **kw: Any):
        super().__init__(*a, **kw)
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.profiles: dict[int, dict[str, Any]] = {}
        self.config = {"HeartbeatInterval": "60", "MeterValueSampleInterval": "30", "ConnectionTimeOut": "90",
                       "LocalAuthorizeOffline": "true", "AuthorizationKey": None}
        self.reservations: dict[int, int] = {}  # reservationId -> connector
        self.local_list: dict[str, dict[str, Any]] = {}  # idTag -> idTagInfo
        self.local_list_version = 0
        self.local_list_status = "Accepted"  # a test sets Failed/NotSupported to see the answers combined

    @on("RemoteStartTransaction")
    def on_remote_start(self, **kw: Any) -> Any:
        self.received.append(("RemoteStartTransaction", kw))
        return call_result.RemoteStartTransaction(status="Accepted")

    @on("RemoteStopTransaction")
    def on_remote_stop(self, **kw: Any) -> Any:
        self.received.append(("RemoteStopTransaction", kw))
        return call_result.RemoteStopTransaction(status="Accepted")

    @on("SetChargingProfile")
    def on_set_profile(self, connector_id: int, cs_charging_profiles: dict[str, Any]) -> Any:
        self.received.append(("SetChargingProfile", {"connector_id": connector_id, "profile": cs_charging_profiles}))
        self.profiles[connector_id] = json.loads(json.dumps(cs_charging_profiles, default=float))  # Decimal limits
        return call_result.SetChargingProfile(status="Accepted")

    @on("ClearChargingProfile")
    def on_clear_profile(self, **kw: Any) -> Any:
        self.received.append(("ClearChargingProfile", kw))
        found = [c for c, p in self.profiles.items() if kw.get("id") in (None, p["charging_profile_id"])]
        for c in found:
            del self.profiles[c]
        return call_result.ClearChargingProfile(status="Accepted" if found else "Unknown")

    @on("GetCompositeSchedule")
    def on_composite(self, connector_id: int, duration: int, charging_rate_unit: str | None = None) -> Any:
        self.received.append(("GetCompositeSchedule", {"connector_id": connector_id, "duration": duration}))
        p = self.profiles.get(connector_id)
        if p is None:
            return call_result.GetCompositeSchedule(status="Rejected")
        s = p["charging_schedule"]
        return call_result.GetCompositeSchedule(
            status="Accepted", connector_id=connector_id, schedule_start=now_iso(),
            charging_schedule={"duration": duration, "charging_rate_unit": s["charging_rate_unit"],
                               "charging_schedule_period": s["charging_schedule_period"]})

    @on("GetConfiguration")
    def on_get_configuration(self, key: list[str] | None = None) -> Any:
        self.received.append(("GetConfiguration", {"key": key}))
        keys = key or list(self.config)
        known = [{"key": k, "readonly": k == "AuthorizationKey", **({"value": self.config[k]}
                                                                    if self.config[k] is not None else {})}
                 for k in keys if k in self.config]
        return call_result.GetConfiguration(configuration_key=known,
                                            unknown_key=[k for k in keys if k not in self.config] or None)

    @on("ChangeConfiguration")
    def on_change_configuration(self, key: str, value: str) -> Any:
        self.received.append(("ChangeConfiguration", {"key": key, "value": value}))
        if key not in self.config:
            return call_result.ChangeConfiguration(status="NotSupported")
        self.config[key] = value
        return call_result.ChangeConfiguration(status="Accepted")

    @on("Reset")
    def on_reset(self, type: str) -> Any:  # noqa: A002 (the OCPP field name)
        self.received.append(("Reset", {"type": type}))
        return call_result.Reset(status="Accepted")

    @on("UnlockConnector")
    def on_unlock(self, connector_id: int) -> Any:
        self.received.append(("UnlockConnector", {"connector_id": connector_id}))
        return call_result.UnlockConnector(status="Unlocked")

    @on("ChangeAvailability")
    def on_availability(self, connector_id: int, type: str) -> Any:  # noqa: A002
        self.received.append(("ChangeAvailability", {"connector_id": connector_id, "type": type}))
        return call_result.ChangeAvailability(status="Accepted")

    @on("ReserveNow")
    def on_reserve_now(self, connector_id: int, expiry_date: str, id_tag: str, reservation_id: int,
                       parent_id_tag: str | None = None) -> Any:
        self.received.append(("ReserveNow", {"connector_id": connector_id, "expiry_date": expiry_date,
                                             "id_tag": id_tag, "reservation_id": reservation_id,
                                             "parent_id_tag": parent_id_tag}))
        if any(c == connector_id and r != reservation_id for r, c in self.reservations.items()):
            return call_result.ReserveNow(status="Occupied")
        self.reservations[reservation_id] = connector_id
        return call_result.ReserveNow(status="Accepted")

    @on("CancelReservation")
    def on_cancel_reservation(self, reservation_id: int) -> Any:
        self.received.append(("CancelReservation", {"reservation_id": reservation_id}))
        found = self.reservations.pop(reservation_id, None) is not None
        return call_result.CancelReservation(status="Accepted" if found else "Rejected")

    @on("SendLocalList")
    def on_send_local_list(self, list_version: int, update_type: str,
                           local_authorization_list: list[dict[str, Any]] | None = None) -> Any:
        self.received.append(("SendLocalList", {"list_version": list_version, "update_type": update_type,
                                                "local_authorization_list": local_authorization_list}))
        if self.local_list_status != "Accepted":
            return call_result.SendLocalList(status=self.local_list_status)
        if update_type == "Differential" and list_version <= self.local_list_version:
            return call_result.SendLocalList(status="VersionMismatch")
        if update_type == "Full":
            self.local_list = {}
        for e in local_authorization_list or []:
            if e.get("id_tag_info") is None:
                self.local_list.pop(e["id_tag"], None)
            else:
                self.local_list[e["id_tag"]] = e["id_tag_info"]
        self.local_list_version = list_version
        return call_result.SendLocalList(status="Accepted")

    @on("GetLocalListVersion")
    def on_get_local_list_version(self) -> Any:
        self.received.append(("GetLocalListVersion", {}))
        return call_result.GetLocalListVersion(list_version=self.local_list_version)

    @on("TriggerMessage")
    def on_trigger(self, requested_message: str, connector_id: int | None = None) -> Any:
        self.received.append(("TriggerMessage", {"requested_message": requested_message}))
        return call_result.TriggerMessage(status="Accepted")


class Fleet:
    def __init__(self, url: str, chargers: list[dict[str, Any]], log_path: str | Path | None = None,
                 response_timeout: float = 30):
        self.url = url.rstrip("/")
        self.cfg = {c["id"]: c for c in chargers}
        self.records: list[dict[str, Any]] = []
        self.cps: dict[str, Charger16] = {}
        self._ws: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._fh = open(log_path, "a", buffering=1) if log_path else None
        self.response_timeout = response_timeout
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.meter_wh: dict[str, int] = {c["id"]: 1000 for c in chargers}
        self.errors: dict[str, str] = {}  # charger -> what ended its scenario (drive())

    def log(self, cid: str, direction: str, text: str) -> None:
        rec: dict[str, Any] = {"t": round(time.time(), 3), "charger": cid, "dir": direction}
        try:
            rec["msg"] = json.loads(text)
        except ValueError:
            rec["raw"] = text
        with self._lock:
            self.records.append(rec)
            if self._fh:
                self._fh.write(json.dumps(rec) + "\n")

    def start(self) -> "Fleet":
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        for cid in list(self._ws):
            try:
                self.disconnect(cid)
            except Exception:  # noqa: BLE001 (shutting down)
                pass
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.loop.stop)
            assert self._thread is not None
            self._thread.join(5)
        if self._fh:
            self._fh.close()

    def _run(self, coro: Any, timeout: float = 60) -> Any:
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    # --- connection ----------------------------------------------------------------------------
    async def _connect(self, cid: str, password: str | None, deadline: float) -> None:
        headers = {}
        pw = password if password is not None else self.cfg[cid].get("password")
        if pw:
            headers["Authorization"] = "Basic " + base64.b64encode(f"{cid}:{pw}".encode()).decode()
        while True:
            try:
                ws = await websockets.connect(f"{self.url}/{cid}", subprotocols=["ocpp1.6"],
                                              additional_headers=headers, open_timeout=5)
                break
            except (OSError, asyncio.TimeoutError, websockets.InvalidHandshake):
                if time.time() > deadline:
                    raise
                await asyncio.sleep(0.3)
        cp = Charger16(cid, _Logged(ws, self, cid), response_timeout=self.response_timeout)
        self.cps[cid] = cp
        self._ws[cid] = ws
        asyncio.ensure_future(self._serve(cp))

    async def _serve(self, cp: Charger16) -> None:
        try:
            await cp.start()
        except websockets.ConnectionClosed:
            pass

    def connect(self, cid: str, timeout: float = 20, password: str | None = None) -> None:
        """Connect (retrying until the gateway listens); raises on refusal after timeout."""
        self._run(self._connect(cid, password, time.time() + timeout), timeout + 10)

    def disconnect(self, cid: str) -> None:
        ws = self._ws.pop(cid, None)
        self.cps.pop(cid, None)
        if ws is not None:
            self._run(ws.close(), 10)

    def connected(self, cid: str) -> bool:
        return cid in self.cps

    # --- requests ------------------------------------------------------------------------------
    def call(self, cid: str, req: Any, timeout: float = 40) -> Any:
        """Send a 1.6 CALL; the CALLRESULT (schema-validated by the ocpp package). Raises on CALLERROR."""
        return self._run(self.cps[cid].call(req, suppress=False), timeout)

    def boot(self, cid: str) -> Any:
        r = self.call(cid, call.BootNotification(charge_point_vendor="SimVendor", charge_point_model="Sim16",
                                                 charge_point_serial_number=f"SN-{cid}", firmware_version="1.0"))
        self.call(cid, call.StatusNotification(connector_id=1, error_code="NoError", status="Available",
                                               timestamp=now_iso()))
        return r

    def status(self, cid: str, status: str, connector: int = 1) -> Any:
        return self.call(cid, call.StatusNotification(connector_id=connector, error_code="NoError", status=status,
                                                      timestamp=now_iso()))

    def meter(self, cid: str, tx_id: int | None, amps: float = 16.0, connector: int = 1) -> Any:
        self.meter_wh[cid] += 250
        sv = [{"value": str(self.meter_wh[cid]), "measurand": "Energy.Active.Import.Register", "unit": "Wh",
               "context": "Sample.Periodic"},
              {"value": str(self.meter_wh[cid] / 1000), "measurand": "Energy.Active.Import.Register", "unit": "kWh",
               "context": "Sample.Periodic", "location": "Outlet"}]
        for ph in ("L1", "L2", "L3"):
            sv.append({"value": f"{amps:.1f}", "measurand": "Current.Import", "unit": "A", "phase": ph,
                       "context": "Sample.Periodic"})
        sv.append({"value": "31.5", "measurand": "Temperature", "unit": "Celsius", "context": "Sample.Periodic"})
        return self.call(cid, call.MeterValues(connector_id=connector, transaction_id=tx_id,
                                               meter_value=[{"timestamp": now_iso(), "sampled_value": sv}]))

    def session(self, cid: str, tag: str, samples: int = 3, reason: str = "Local") -> dict[str, Any]:
        """A whole charging session: Preparing, Authorize, StartTransaction, Charging, MeterValues x samples,
        StopTransaction, Finishing, Available. -> {"auth", "tx_id", "stop"}"""
        self.status(cid, "Preparing")
        auth = self.call(cid, call.Authorize(id_tag=tag))
        start = self.call(cid, call.StartTransaction(connector_id=1, id_tag=tag, meter_start=self.meter_wh[cid],
                                                     timestamp=now_iso()))
        self.status(cid, "Charging")
        for _ in range(samples):
            self.meter(cid, start.transaction_id)
        stop = self.stop_tx(cid, start.transaction_id, tag, reason)
        return {"auth": auth.id_tag_info["status"], "tx_id": start.transaction_id, "start": start.id_tag_info,
                "stop": stop}

    def start_tx(self, cid: str, tag: str) -> int:
        r = self.call(cid, call.StartTransaction(connector_id=1, id_tag=tag, meter_start=self.meter_wh[cid],
                                                 timestamp=now_iso()))
        return int(r.transaction_id)

    def stop_tx(self, cid: str, tx_id: int, tag: str | None = None, reason: str = "Local") -> Any:
        r = self.call(cid, call.StopTransaction(meter_stop=self.meter_wh[cid] + 100, timestamp=now_iso(),
                                                transaction_id=tx_id, reason=reason, id_tag=tag))
        self.meter_wh[cid] += 100
        self.status(cid, "Finishing")
        self.status(cid, "Available")
        return r

    # --- log views -----------------------------------------------------------------------------
    def received(self, cid: str, action: str) -> list[dict[str, Any]]:
        """The Central System's requests of `action` charger `cid` got, oldest first (as its handler saw them)."""
        return [kw for a, kw in self.cps[cid].received if a == action]

    def messages(self, cid: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.records if cid is None or r["charger"] == cid]

    def summary(self) -> dict[str, Any]:
        out = {}
        for cid in self.cfg:
            recs = self.messages(cid)
            out[cid] = {"sent": sum(1 for r in recs if r["dir"] == "tx"),
                        "received": sum(1 for r in recs if r["dir"] == "rx"),
                        "errors": sum(1 for r in recs if r["dir"] == "rx" and r.get("msg", [0])[0] == 4),
                        "transactions": sum(1 for r in recs if r["dir"] == "tx" and r.get("msg", [0])[0] == 2
                                            and r["msg"][2] == "StartTransaction"),
                        "scenario_error": self.errors.get(cid, "")}
        return out


def drive(fleet: Fleet, stop: threading.Event, pause_s: float = 1.0) -> None:
    """The simulation's scenario for every charger of the fleet, until stop is set: connect, boot, then
    charging sessions (Authorize, StartTransaction, MeterValues, StopTransaction) one after the other.
    Errors are recorded per charger (fleet.errors), never raised: the simulation summary shows them."""
    def one(cid: str) -> None:
        n = 0
        try:
            fleet.connect(cid, timeout=30)
            fleet.boot(cid)
            while not stop.is_set():
                n += 1
                fleet.session(cid, f"TAG-{cid}-{n}", samples=3)
                stop.wait(pause_s)
        except Exception as e:  # noqa: BLE001 (reported in the summary)
            if not stop.is_set():
                fleet.errors[cid] = f"{type(e).__name__}: {e}"
    threads = [threading.Thread(target=one, args=(cid,), daemon=True) for cid in fleet.cfg]
    for t in threads:
        t.start()
