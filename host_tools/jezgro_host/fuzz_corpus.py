"""The fuzz seed corpora (fuzz/corpus/TARGET/*.bin): real messages of each protocol, made by the peers the
tests talk to (EXIficient for EXI, the `ocpp` package for OCPP-J 2.0.1 and 1.6, `websockets` for frames,
cantools with canbus/station.dbc for CAN, pymodbus for Modbus, the example configuration files) and, where
no independent encoder is at hand (SLAC MMEs, V2GTP/SDP headers), our own encoders. Small on purpose: the
mutations do the rest. `jezgro fuzz --make-corpus` rewrites them; they are committed."""
from __future__ import annotations

import dataclasses
import json
import shutil
import struct
from pathlib import Path
from typing import Any

from . import mp

CORPUS = mp.ROOT / "fuzz" / "corpus"

EXI_MESSAGES = {
    "handshake": ["supportedAppProtocolReq", "supportedAppProtocolRes"],
    "din": ["SessionSetupReq", "ServiceDiscoveryReq", "ChargeParameterDiscoveryReq", "ChargeParameterDiscoveryRes",
            "CableCheckReq", "PreChargeReq", "PowerDeliveryReq", "CurrentDemandReq", "CurrentDemandRes",
            "WeldingDetectionReq", "SessionStopReq"],
    "iso2": ["SessionSetupReq", "ServiceDiscoveryRes", "PaymentServiceSelectionReq", "AuthorizationReq",
             "ChargeParameterDiscoveryReq", "ChargeParameterDiscoveryRes", "PowerDeliveryReq", "ChargingStatusReq",
             "ChargingStatusRes", "CurrentDemandReq", "CurrentDemandRes", "MeteringReceiptReq", "SessionStopReq"],
    "iso20-common": ["SessionSetupReq", "AuthorizationSetupReq", "AuthorizationReq", "ServiceDiscoveryReq",
                     "ServiceDiscoveryRes", "ServiceSelectionReq", "ScheduleExchangeReq", "ScheduleExchangeRes",
                     "PowerDeliveryReq", "SessionStopReq"],
    "iso20-dc": ["DC_ChargeParameterDiscoveryReq", "DC_ChargeParameterDiscoveryRes", "DC_CableCheckReq",
                 "DC_PreChargeReq", "DC_ChargeLoopReq", "DC_ChargeLoopRes", "DC_WeldingDetectionReq"],
    "iso20-ac": ["AC_ChargeParameterDiscoveryReq", "AC_ChargeParameterDiscoveryRes", "AC_ChargeLoopReq",
                 "AC_ChargeLoopRes"],
}
EXI_TARGET = {"handshake": "exi-sap", "din": "exi-din", "iso2": "exi-iso2", "iso20-common": "exi-iso20-common",
              "iso20-dc": "exi-iso20-dc", "iso20-ac": "exi-iso20-ac"}


def _exi() -> dict[str, list[bytes]]:
    from .exigen import samples
    from .exigen.peers import JarPeer
    out: dict[str, list[bytes]] = {}
    jar = JarPeer()
    try:
        for schema, names in EXI_MESSAGES.items():
            seeds = out.setdefault(EXI_TARGET[schema], [])
            for name in names:
                for seed in range(3, 40):
                    try:
                        doc = samples.sample(schema, name, seed, 0.3)
                    except samples.Unsupported:
                        continue
                    r = jar.encode(schema, doc)
                    if "hex" in r:
                        seeds.append(bytes.fromhex(r["hex"]))
                        break
    finally:
        jar.close()
    return out


def _v2gtp(exi: dict[str, list[bytes]]) -> dict[str, list[bytes]]:
    # ISO 15118-2 §7.8.3: version 0x01, inverse 0xFE, payload type, length, payload
    def frame(pt: int, payload: bytes) -> bytes:
        return struct.pack(">BBHI", 1, 0xFE, pt, len(payload)) + payload
    v = [frame(0x8001, p) for p in exi["exi-sap"][:1] + exi["exi-iso2"][:3] + exi["exi-din"][:2]]
    v += [frame(0x8002, exi["exi-iso20-common"][0]), frame(0x8004, exi["exi-iso20-dc"][0]),
          frame(0x8003, exi["exi-iso20-ac"][0]), frame(0x8001, exi["exi-iso2"][0]) + frame(0x8001, exi["exi-iso2"][1])]
    addr = bytes.fromhex("fe80000000000000021122fffe334455")
    sdp = [frame(0x9000, bytes((0x00, 0x00))), frame(0x9000, bytes((0x10, 0x00))),
           frame(0x9001, addr + struct.pack(">HBB", 61341, 0x00, 0x00)),
           frame(0x9001, addr + struct.pack(">HBB", 49152, 0x10, 0x00))]
    return {"v2gtp": v, "sdp": sdp}


def _ocpp_json(version: str) -> list[bytes]:
    from ocpp.charge_point import remove_nones, snake_to_camel_case
    from ocpp.messages import Call, CallError, CallResult

    def payload(obj: Any) -> dict:
        return snake_to_camel_case(remove_nones(dataclasses.asdict(obj)))

    msgs: list[Any] = []
    if version == "2.0.1":
        from ocpp.v201 import call, call_result
        msgs = [Call("1", "RequestStartTransaction", payload(call.RequestStartTransaction(
                    id_token={"idToken": "04A2B3C4", "type": "ISO14443"}, remote_start_id=7, evse_id=1))),
                Call("2", "SetChargingProfile", payload(call.SetChargingProfile(evse_id=1, charging_profile={
                    "id": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
                    "chargingProfileKind": "Absolute", "chargingSchedule": [{
                        "id": 1, "chargingRateUnit": "W", "startSchedule": "2026-01-01T00:00:00Z",
                        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7400.0},
                                                   {"startPeriod": 900, "limit": -3000.0}]}]}))),
                Call("3", "GetVariables", payload(call.GetVariables(get_variable_data=[
                    {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]))),
                Call("4", "SetVariables", payload(call.SetVariables(set_variable_data=[
                    {"attributeValue": "30", "component": {"name": "OCPPCommCtrlr"},
                     "variable": {"name": "HeartbeatInterval"}}]))),
                Call("5", "TriggerMessage", payload(call.TriggerMessage(requested_message="StatusNotification"))),
                Call("6", "Reset", payload(call.Reset(type="OnIdle"))),
                CallResult("7", payload(call_result.BootNotification(
                    current_time="2026-01-01T00:00:00Z", interval=300, status="Accepted"))),
                CallResult("8", payload(call_result.TransactionEvent(id_token_info={"status": "Accepted"}))),
                CallError("9", "NotImplemented", "no such action", {})]
    else:
        from ocpp.v16 import call, call_result
        msgs = [Call("1", "BootNotification", payload(call.BootNotification(
                    charge_point_model="NG9", charge_point_vendor="Alfen"))),
                Call("2", "StatusNotification", payload(call.StatusNotification(
                    connector_id=1, error_code="NoError", status="Charging"))),
                Call("3", "StartTransaction", payload(call.StartTransaction(
                    connector_id=1, id_tag="04A2B3C4", meter_start=1200, timestamp="2026-01-01T00:00:00Z"))),
                Call("4", "MeterValues", payload(call.MeterValues(connector_id=1, transaction_id=5, meter_value=[
                    {"timestamp": "2026-01-01T00:01:00Z", "sampledValue": [
                        {"value": "1234.5", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                        {"value": "7.2", "measurand": "Power.Active.Import", "unit": "kW"}]}]))),
                Call("5", "StopTransaction", payload(call.StopTransaction(
                    meter_stop=5000, timestamp="2026-01-01T01:00:00Z", transaction_id=5, reason="Local"))),
                Call("6", "Authorize", payload(call.Authorize(id_tag="04A2B3C4"))),
                CallResult("7", payload(call_result.RemoteStartTransaction(status="Accepted"))),
                CallError("8", "NotSupported", "", {})]
    return [m.to_json().encode() for m in msgs]


def _ws(texts: list[bytes]) -> dict[str, list[bytes]]:
    from websockets.frames import Frame, Opcode
    frames = [Frame(Opcode.TEXT, t) for t in texts[:4]] + [
        Frame(Opcode.PING, b"hb"), Frame(Opcode.PONG, b""), Frame(Opcode.CLOSE, struct.pack(">H", 1000) + b"bye"),
        Frame(Opcode.TEXT, texts[0][:10], fin=False), Frame(Opcode.CONT, texts[0][10:]),
        Frame(Opcode.BINARY, bytes(300))]
    return {"ws-client": [f.serialize(mask=False) for f in frames],
            "ws-server": [f.serialize(mask=True) for f in frames]}


def _can() -> list[bytes]:
    from . import candbc
    db = candbc.load()
    msg = db.get_message_by_name("STATION_CMD")
    out = []
    for i, (mode, p, q, t) in enumerate(((1, 11000, 0, 1000), (1, -7400, 1200, 500), (2, 0, 0, 2000),
                                        (1, 22000, -3000, 60000))):
        sig = {s.name: 0 for s in msg.signals}
        sig.update({k: v for k, v in (("Mode", mode), ("PowerSetpoint", p), ("ReactiveSetpoint", q),
                                      ("Timeout", t), ("Counter", i)) if k in sig})
        data = bytearray(msg.encode(sig, scaling=True, strict=False, padding=False))
        data[15] = candbc.crc8(msg.frame_id, data[:15])
        out.append(bytes(data))
    return out


def _modbus() -> list[bytes]:
    from pymodbus.pdu.register_message import ReadHoldingRegistersResponse, WriteMultipleRegistersResponse
    from pymodbus.pdu import ExceptionResponse
    pdus = [ReadHoldingRegistersResponse(registers=[230, 16, 0, 1]), ReadHoldingRegistersResponse(registers=[7]),
            WriteMultipleRegistersResponse(address=1210, count=2)]
    out = []
    for tid, pdu in enumerate(pdus, 1):
        body = bytes((pdu.function_code,)) + pdu.encode()
        out.append(struct.pack(">HHHB", tid, 0, len(body) + 1, 1) + body)
    exc = ExceptionResponse(3, 2)
    body = bytes((0x83,)) + exc.encode()
    out.append(struct.pack(">HHHB", 9, 0, len(body) + 1, 1) + body)  # a documented rejection (REJECT)
    return out


def _configs() -> dict[str, list[bytes]]:
    def j(*docs: Any) -> list[bytes]:
        return [json.dumps(d, indent=1).encode() for d in docs]
    maps = [p.read_bytes() for p in sorted((mp.FIRMWARE / "bridge" / "maps").glob("*.json"))]
    charger = {"id": "CP-1", "password": "0123456789abcdef0123", "connectors": 2}
    return {
        "config-ocpp": j({"url": "ws://127.0.0.1:9000/ocpp", "station_id": "GW-0001", "security_profile": 1,
                          "password": "0123456789abcdef"},
                         {"url": "wss://csms.example.com/ocpp", "station_id": "GW-0001", "security_profile": 2,
                          "password": "0123456789abcdef", "ca": "certs/ca.pem"}),
        "config-bridge": j({"source": "ocpp16", "host": "0.0.0.0", "port": 9016, "heartbeat_s": 60,
                            "chargers": [charger, {"id": "WB-2", "modbus": {"host": "10.0.0.5", "map":
                                                   "alfen_ng9xx.json"}, "rate_unit": "A"}]}),
        "config-regmap": maps,
        "config-grid": j({"grid_code": "VDE-AR-N-4110"}, {"grid_code": "IEEE1547-CatII", "sms": True}),
        "config-iso15118": j({"iface": "veth0", "protocols": ["ISO_15118_20_AC", "ISO_15118_2", "DIN_SPEC_70121"],
                              "tls": False},
                             {"iface": "eth0", "protocols": ["ISO_15118_20_DC"], "tls": True, "slac": True,
                              "tls_cert": "certs/secc.pem", "tls_key": "certs/secc.key"}),
        "config-slac": j({"iface": "veth0", "mac": "02:00:00:00:00:02", "pcap": None, "threshold_db": 30},
                         {"iface": "plc0", "sim_atten": {"02:00:00:00:00:01": 22}, "nominal_a": 32}),
        "config-net": j({"mode": "dhcp", "iface": "eth0"},
                        {"mode": "static", "iface": "eth0", "ip": "192.168.1.20", "mask": "255.255.255.0",
                         "gw": "192.168.1.1", "dns": "192.168.1.1"}),
    }


def _slac() -> list[bytes]:
    p = mp.run(["-c", "import l_frames\nfor n, f in l_frames.frames(): print(f.hex())"], board=None,
               extra=[mp.MP_TESTS], capture_output=True, timeout=60)
    if p.returncode:
        raise RuntimeError(p.stderr[-500:])
    return [bytes.fromhex(x) for x in p.stdout.split()]


def build(out: Path = CORPUS) -> dict[str, int]:
    seeds: dict[str, list[bytes]] = {}
    seeds.update(_exi())
    seeds.update(_v2gtp(seeds))
    rpc201 = _ocpp_json("2.0.1")
    seeds["ocpp-rpc"] = rpc201
    seeds["ocpp16-rpc"] = _ocpp_json("1.6")
    seeds.update(_ws(rpc201 + seeds["ocpp16-rpc"]))
    seeds["can-station"] = _can()
    seeds["modbus"] = _modbus()
    seeds["slac-mme"] = _slac()
    seeds.update(_configs())
    for target, items in seeds.items():
        d = out / target
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        for i, data in enumerate(items):
            # a seed the decoder must refuse with its documented error (a Modbus exception response)
            tag = "-reject" if target == "modbus" and data[7] & 0x80 else ""
            (d / f"{i:02d}{tag}.bin").write_bytes(data)
    return {t: len(v) for t, v in seeds.items()}
