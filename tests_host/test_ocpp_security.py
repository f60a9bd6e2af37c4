"""Security profiles 1-3 (OCPP 2.0.1 part 2 A00): Basic auth over ws, TLS with the server certificate
checked against the provisioned CA + Basic auth, mutual TLS. The test makes its own CA and certificates
with the `openssl` CLI; the CSMS is the `ocpp` package over `websockets` with Python's ssl."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from jezgro_host.csms import Csms
from jezgro_host.mp import pinned_build
from pki import csms_pki
from station import StationProcess
from waiting import poll

SID = "GW-SEC"
PW = "0123456789abcdefXYZ"

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return csms_pki(tmp_path_factory.mktemp("pki"), ("cli", SID, None))


def run_station(c: Csms, fs: Path, pki: Path, conf: dict, seconds: float = 0):
    fs.mkdir(parents=True, exist_ok=True)
    for f in ("ca.pem", "otherca.pem", "cli.pem", "cli.key"):
        shutil.copy(pki / f, fs / f)
    url = c.url.replace("127.0.0.1", "localhost")
    n0 = len(c.calls("StatusNotification"))
    st = StationProcess(fs, {"url": url, "station_id": SID, **conf}).start()
    ok = poll(lambda: len(c.calls("StatusNotification")) > n0, seconds or 10)
    out = st.stop()
    return bool(ok), out


def test_profile1_basic_auth(tmp_path, pki):
    c = Csms(passwords={SID: PW}).start()
    try:
        ok, out = run_station(c, tmp_path / "a", pki, {"security_profile": 1, "password": PW})
        assert ok and out["svc"]["faults"] == 0
        ok, out = run_station(c, tmp_path / "b", pki, {"security_profile": 1, "password": "wrong-password-0000"},
                              seconds=3)
        assert not ok and c.auth_failures >= 1
        assert out["stats"]["connect_failures"] >= 1 and "401" in out["last_error"]
    finally:
        c.stop()


def test_profile2_tls_server_cert_and_basic_auth(tmp_path, pki):
    c = Csms(passwords={SID: PW}, certfile=str(pki / "srv.pem"), keyfile=str(pki / "srv.key")).start()
    try:
        ok, out = run_station(c, tmp_path / "a", pki, {"security_profile": 2, "password": PW, "ca": "ca.pem"})
        assert ok and out["svc"]["faults"] == 0
        assert c.errors_sent() == []
        if pinned_build():  # TLS 1.3 where both ends have it (docs/platform.md)
            assert c.tls_versions[0] == "TLSv1.3", c.tls_versions
        # a server certificate from another CA is refused by the station
        ok, out = run_station(c, tmp_path / "b", pki, {"security_profile": 2, "password": PW,
                                                        "ca": "otherca.pem"}, seconds=3)
        assert not ok and out["stats"]["connect_failures"] >= 1
    finally:
        c.stop()


def test_profile3_mutual_tls(tmp_path, pki):
    c = Csms(certfile=str(pki / "srv.pem"), keyfile=str(pki / "srv.key"), client_ca=str(pki / "ca.pem")).start()
    try:
        ok, out = run_station(c, tmp_path / "a", pki, {"security_profile": 3, "ca": "ca.pem", "cert": "cli.pem",
                                                        "key": "cli.key"})
        assert ok and out["svc"]["faults"] == 0
        if pinned_build():
            assert c.tls_versions[0] == "TLSv1.3", c.tls_versions
        # without the client certificate (profile 2 credentials) the CSMS refuses the handshake
        ok, out = run_station(c, tmp_path / "b", pki, {"security_profile": 2, "password": PW, "ca": "ca.pem"},
                              seconds=3)
        assert not ok
    finally:
        c.stop()


@pytest.mark.parametrize("conf,needle", [
    ({"station_id": SID}, 'missing "url"'),
    ({"url": "ws://x/ocpp", "station_id": SID, "security_profile": 2, "password": PW, "ca": "ca.pem"}, "wss://"),
    ({"url": "ws://x/ocpp", "station_id": SID, "security_profile": 1, "password": "short"}, "password"),
    ({"url": "wss://x/ocpp", "station_id": SID, "security_profile": 3, "ca": "ca.pem"}, 'missing "cert"'),
    ({"url": "ws://x/ocpp", "station_id": SID, "security_profile": 0, "colour": 1}, "unknown field"),
    ({"url": "ws://x/ocpp", "station_id": SID, "security_profile": 0, "offline_fallback": {"limit_w": 4000}},
     'offline_fallback: missing "after_s"'),
    ({"url": "ws://x/ocpp", "station_id": SID, "security_profile": 0,
      "offline_fallback": {"after_s": 0, "limit_w": 4000}}, "offline_fallback.after_s must be 1..86400"),
    ({"url": "ws://x/ocpp", "station_id": SID, "security_profile": 0,
      "offline_fallback": {"after_s": 60, "limit_w": -1}}, "offline_fallback.limit_w must be 0..1000000"),
    ({"url": "ws://x/ocpp", "station_id": SID, "security_profile": 0,
      "offline_fallback": {"after_s": 60, "limit_w": 4000, "import_w": 1}}, 'unknown field "offline_fallback.import_w"'),
    ({"url": "ws://x/ocpp", "station_id": SID, "security_profile": 0, "offline_fallback": 300},
     "offline_fallback must be an object"),
    ({"url": "wss://x/ocpp", "station_id": SID, "security_profile": 2, "password": PW, "ca": "nope.pem"},
     "not readable"),
])
def test_bad_config_is_reported_and_service_keeps_running(tmp_path, conf, needle):
    code = "import o_station, harness\nk, out = o_station.run(1500)\nharness.result(out)\n"
    st = StationProcess(tmp_path, conf, code=code).start()
    out = st.proc.communicate(timeout=30)[0]
    res = [ln for ln in out.splitlines() if ln.startswith("RESULT ")]
    assert res, out
    import json
    d = json.loads(res[0][7:])
    assert needle in d["config_error"] and d["config_errors"] >= 1
    assert d["svc"]["faults"] == 0  # fed its watchdog while waiting for a usable config
