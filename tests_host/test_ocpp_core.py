"""OCPP_CLIENT (MicroPython, in the kernel on wall-clock time) against the `ocpp` package CSMS over real
sockets, schema validation on in both directions: registration, heartbeat, status, device model,
garbage from the CSMS, reconnect back-off."""
from __future__ import annotations

import json

import pytest

from jezgro_host import mp
from jezgro_host.csms import Csms
from jezgro_host.mp import UNIX_BOARD
from station import StationProcess
from waiting import wait_for

SID = "GW/01 test"  # needs percent-encoding in the URL path


@pytest.fixture
def csms(tmp_path):
    c = Csms(log_path=tmp_path / "csms.jsonl", heartbeat_s=1).start()
    yield c
    c.stop()


def cfg(c: Csms, **kw):
    d = {"url": c.url, "station_id": SID, "security_profile": 0}
    d.update(kw)
    return d


def test_boot_heartbeat_status_variables_garbage(csms, tmp_path):
    st = StationProcess(tmp_path / "fs", cfg(csms)).start()
    try:
        wait_for(lambda: len(csms.calls("Heartbeat")) >= 2)
        wait_for(lambda: csms.calls("StatusNotification"))
        # device model round trip, values persisted
        r = csms.send(SID, "SetVariables", {"setVariableData": [
            {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "OfflineThreshold"}, "attributeValue": "7"},
            {"component": {"name": "DeviceDataCtrlr"}, "variable": {"name": "ItemsPerMessage"},
             "attributeValue": "3"},
            {"component": {"name": "Nope"}, "variable": {"name": "X"}, "attributeValue": "1"}]})
        assert [x["attribute_status"] for x in r.set_variable_result] == ["Accepted", "Rejected",
                                                                           "UnknownComponent"]
        r = csms.send(SID, "GetVariables", {"getVariableData": [
            {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "OfflineThreshold"}},
            {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "Bogus"}}]})
        assert r.get_variable_result[0]["attribute_value"] == "7"
        assert r.get_variable_result[1]["attribute_status"] == "UnknownVariable"
        r = csms.send(SID, "GetBaseReport", {"requestId": 5, "reportBase": "FullInventory"})
        assert r.status == "Accepted"
        reports = wait_for(lambda: [p for p in csms.calls("NotifyReport") if not p.get("tbc")] and
                           csms.calls("NotifyReport"))
        comps = {d["component"]["name"] for p in reports for d in p["reportData"]}
        assert {"OCPPCommCtrlr", "TxCtrlr", "DeviceDataCtrlr", "ClockCtrlr", "SecurityCtrlr", "SampledDataCtrlr",
                "AlignedDataCtrlr", "AuthCtrlr", "SmartChargingCtrlr", "ISO15118Ctrlr"} <= comps
        assert [p["seqNo"] for p in reports] == list(range(len(reports)))
        # garbage: each gets its CALLERROR (or is ignored when it is an answer), the service survives
        for g in ["not json", "[2,\"g1\",\"Frobnicate\",{}]", "[9,\"g2\",\"x\",{}]", "{\"a\":1}",
                  "[2,\"g3\",\"GetVariables\",{\"getVariableData\":\"x\"}]", "[3,\"nobody\",{}]",
                  "[2,\"g4\",\"GetVariables\",[]]", "\u00ff" * 5, "[2,\"g5\",\"SetVariables\",{}]"]:
            csms.send_raw(SID, g)
        errs = wait_for(lambda: len(_errors_from_station(csms)) >= 8 and _errors_from_station(csms))
        codes = {e[1]: e[2] for e in errs}
        assert codes["g1"] == "NotImplemented"
        assert codes["g2"] == "MessageTypeNotSupported"
        assert codes["g3"] == "TypeConstraintViolation"
        assert codes["g4"] == "FormatViolation"
        assert codes["g5"] == "OccurrenceConstraintViolation"
        assert codes["-1"] == "RpcFrameworkError"
        # still alive and answering after the garbage
        r = csms.send(SID, "GetVariables", {"getVariableData": [
            {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "OfflineThreshold"}}]})
        assert r.get_variable_result[0]["attribute_value"] == "7"
    finally:
        out = st.stop()
    assert out["svc"]["restarts"] == 0 and out["svc"]["faults"] == 0
    assert out["stats"]["bad_messages"] >= 8
    assert csms.errors_sent() == []  # every station message passed the CSMS's schema validation
    boots = csms.calls("BootNotification")
    assert len(boots) == 1 and boots[0]["reason"] == "PowerUp"
    # URL path carried the percent-encoded identity
    assert SID in {r["station"] for r in csms.records}
    dm = json.loads((tmp_path / "fs" / "ocpp_dm.json").read_text())
    assert dm["OCPPCommCtrlr.OfflineThreshold"] == "7"


def _errors_from_station(c: Csms):
    with c._lock:
        return [r["msg"] for r in c.records if r["dir"] == "rx" and isinstance(r.get("msg"), list)
                and r["msg"][0] == 4]


def test_gateway_simulation_connects_to_the_csms(csms, tmp_path):
    """boards/unix/simmain.py --csms URL --station-id ID: the whole v2g table, OCPP_CLIENT registered."""
    simmain = str(UNIX_BOARD / "simmain.py")
    p = mp.run([simmain, "--fs", str(tmp_path / "simfs"), "--seconds", "3", "--csms", csms.url,
                "--station-id", "SIM-1", "--scenario", "none"], heap="2M", env=mp.CLEAN_ENV,
               capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr[-2000:]
    assert len(csms.calls("BootNotification", "SIM-1")) == 1
    assert csms.calls("StatusNotification", "SIM-1")
    bad = mp.run([simmain, "--fs", str(tmp_path / "simfs2"), "--seconds", "1", "--csms", "http://x",
                  "--station-id", "SIM-2"], env=mp.CLEAN_ENV, capture_output=True, timeout=60)
    assert bad.returncode != 0 and "ws://" in (bad.stderr + bad.stdout)


RESTART_CODE = """
import json, board, harness
from jezgro import faults
def phase(k, ms):
    t0 = k.ticks_ms()
    while k.ticks_diff(k.ticks_ms(), t0) < ms:
        k.run(100)
def run_phases():
    from jezgro.service import ServiceSpec
    from jezgro.const import PRIO_LOW
    k = harness.kernel([ServiceSpec(1, "OCPP_CLIENT", PRIO_LOW, 8, 64, 5000000, "services.ocpp_client",
                                    max_restarts=10, period_s=60)], virtual=False)
    k.boot()
    phase(k, 1500)
    k.inject(1, faults.INJ_CRASH)      # service restart: same config -> no second BootNotification
    phase(k, 1500)
    p = board.FS_ROOT + "/ocpp.json"
    d = json.loads(open(p).read())
    d["serial"] = "SN-2"
    open(p, "w").write(json.dumps(d))
    k.inject(1, faults.INJ_CRASH)      # restart with a changed BootNotification content -> sent again
    phase(k, 1500)
    return k
k = run_phases()
harness.result({"svc": k.summary()["services"][1]})
"""


def test_boot_not_resent_on_restart_unless_changed(csms, tmp_path):
    st = StationProcess(tmp_path / "fs", cfg(csms), code=RESTART_CODE).start()
    out = st.proc.communicate(timeout=60)[0]
    res = [ln for ln in out.splitlines() if ln.startswith("RESULT ")]
    assert res, out
    d = json.loads(res[0][7:])
    assert d["svc"]["restarts"] == 2
    boots = csms.calls("BootNotification")
    assert [b["chargingStation"].get("serialNumber") for b in boots] == [None, "SN-2"]
    assert csms.connections == 3
