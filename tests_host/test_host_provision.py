"""`jezgro provision` and `jezgro status` (issue 19): a provisioning file with host paths validated by the
firmware's own loaders, written to a simulation (or a board: the same MicroPython file operations, run here
by the unix port), then a security-profile-2 connection to a TLS CSMS on the `ocpp` package: the right CA
boots; a wrong CA, a certificate for another host and a wrong password each show the precise reason in the
summary and the audit log."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jezgro_host import mp, provision
from jezgro_host.csms import Csms
from jezgro_host.errors import UserError
from pki import csms_pki

JEZGRO = str(Path(sys.executable).parent / "jezgro")
SID = "GW-PROV"
PW = "0123456789abcdefXYZ"

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return csms_pki(tmp_path_factory.mktemp("pki"), ("elsewhere", "csms.example.org", "DNS:csms.example.org"))


@pytest.fixture(scope="module")
def csms(pki):
    """TLS CSMS (profile 2: server certificate for localhost + Basic auth) and one for another host name."""
    right = Csms(passwords={SID: PW}, certfile=str(pki / "srv.pem"), keyfile=str(pki / "srv.key")).start()
    other = Csms(passwords={SID: PW}, certfile=str(pki / "elsewhere.pem"), keyfile=str(pki / "elsewhere.key")).start()
    yield right, other
    right.stop()
    other.stop()


def _prov_file(d: Path, url: str, ca: str, password: str = PW) -> Path:
    f = d / "gateway.json"
    f.write_text(json.dumps({"ocpp": {"url": url, "station_id": SID, "security_profile": 2, "password": password,
                                      "ca": ca}, "grid": {"grid_code": "VDE-AR-N-4110"}}))
    return f


def _jezgro(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([JEZGRO, *args], capture_output=True, text=True, timeout=timeout)


def _sim(out: Path) -> tuple[subprocess.CompletedProcess[str], dict]:
    p = _jezgro("sim", "--out", str(out), "--seconds", "8", "--quiet", "--no-plot", "--ev", "none")
    assert p.returncode == 0, p.stderr + p.stdout[-2000:]
    return p, json.loads((out / "summary.json").read_text())


def _audit(out: Path) -> list[dict]:
    p = _jezgro("logs", "--dir", str(out / "fs"), "--json")
    return [json.loads(x) for x in p.stdout.splitlines()]


def _url(c: Csms) -> str:
    return c.url.replace("127.0.0.1", "localhost")


def test_provision_with_host_path_ca_connects_over_tls(tmp_path, pki, csms):
    right, _ = csms
    out = tmp_path / "out"
    prov = _prov_file(tmp_path, _url(right), str(pki / "ca.pem"))  # a host path, absolute
    p = _jezgro("provision", str(prov), "--sim", str(out))
    assert p.returncode == 0, p.stderr
    assert PW not in p.stdout + p.stderr  # the secret is never echoed
    assert "ocpp.json password: set (not shown)" in p.stdout and "ocpp.json url: null -> " in p.stdout
    cfg = json.loads((out / "fs" / "ocpp.json").read_text())
    assert cfg["ca"].startswith("certs/ocpp-ca-") and (out / "fs" / cfg["ca"]).read_bytes() == (pki / "ca.pem").read_bytes()
    again = _jezgro("provision", str(prov), "--sim", str(out))
    assert again.returncode == 0 and "already up to date" in again.stdout
    n0 = len(right.calls("BootNotification"))
    sim, s = _sim(out)
    assert "provisioned CSMS wss://localhost" in sim.stdout
    assert len(right.calls("BootNotification")) > n0
    line = next(ln for ln in sim.stdout.splitlines() if ln.startswith("OCPP: "))
    assert re.fullmatch(rf"OCPP: connected to {_url(right)} as {SID} \(security profile 2\), TLSv1\.[23] "
                        r"TLS\S+, verified localhost", line), line
    ocpp = next(x for x in s["services"] if x["name"] == "OCPP_CLIENT")
    assert ocpp["status"]["link"]["state"] == "connected" and ocpp["link_error"] == ""
    st = _jezgro("status", "--sim", str(out), "--json")
    assert st.returncode == 0, st.stderr
    link = next(x for x in json.loads(st.stdout)["services"] if x["name"] == "OCPP_CLIENT")["link"]
    assert link["tls"]["verified_peer"] == "localhost" and link["state"] == "connected"


@pytest.mark.parametrize("case,reason", [
    ("wrong_ca", "TLS: the CSMS certificate was rejected: The certificate is not correctly signed by the trusted CA"),
    ("other_host", "TLS: the CSMS certificate was rejected: The certificate Common Name (CN) does not match"),
    ("wrong_password", "the CSMS refused station GW-PROV's credentials (handshake refused: HTTP/1.1 401 Unauthorized)"),
])
def test_each_failure_shows_its_reason(tmp_path, pki, csms, case, reason):
    right, other = csms
    out = tmp_path / "out"
    url, ca, pw = _url(right), str(pki / "ca.pem"), PW
    if case == "wrong_ca":
        ca = str(pki / "otherca.pem")
    elif case == "other_host":
        url = _url(other)
    else:
        pw = "wrong-password-0000"
    p = _jezgro("provision", str(_prov_file(tmp_path, url, ca, pw)), "--sim", str(out))
    assert p.returncode == 0, p.stderr
    sim, s = _sim(out)
    line = next(ln for ln in sim.stdout.splitlines() if ln.startswith("OCPP: "))
    assert line.startswith(f"OCPP: NOT CONNECTED to {url} as {SID}") and reason in line, line
    ocpp = next(x for x in s["services"] if x["name"] == "OCPP_CLIENT")
    assert reason in ocpp["link_error"] and ocpp["status"]["link"]["state"] in ("backoff", "connecting")
    recs = [r for r in _audit(out) if r.get("ev") == "link_error"]
    assert recs and reason in recs[0]["text"] and recs[0]["svc"] == "OCPP_CLIENT", recs
    assert len(recs) == 1  # one record per distinct reason, not one per retry
    assert "wrong-password" not in json.dumps(s)


def test_bad_provisioning_is_refused_before_anything_is_written(tmp_path, pki):
    out = tmp_path / "out"
    prov = _prov_file(tmp_path, "wss://localhost:1/ocpp", str(pki / "ca.pem"), password="short")
    p = _jezgro("provision", str(prov), "--sim", str(out))
    assert p.returncode == 2
    assert p.stderr.strip() == (f"jezgro provision: {prov}: section 'ocpp' refused by the firmware: ocpp.json: "
                                "password must be 16..40 characters (OCPP A00.FR.205)")
    assert not out.exists() or not any(out.rglob("*"))
    bad = tmp_path / "bad.json"
    for text, msg in ((json.dumps({"ocpp": {"url": "ws://x/ocpp"}}), "ocpp.json: missing \"station_id\""),
                      (json.dumps({"grid": {"grid_code": "XX"}}), "grid.json: grid_code 'XX'"),
                      (json.dumps({"iso15118": {"limits": {"max_v": "high"}}}), "iso15118.json"),
                      (json.dumps({"ocpp": {"url": "wss://x/o", "station_id": SID, "security_profile": 2,
                                            "password": PW, "ca": "/nonexistent/ca.pem"}}),
                       "ocpp.ca: /nonexistent/ca.pem: no such file"),
                      (json.dumps({"nfc": {}}), "unknown section 'nfc' (one of: ocpp, iso15118, grid)"),
                      ("{oops", "not JSON")):
        bad.write_text(text)
        p = _jezgro("provision", str(bad), "--sim", str(out))
        assert p.returncode == 2 and msg in p.stderr and len(p.stderr.strip().splitlines()) == 1, (text, p.stderr)
        assert not out.exists() or not any(out.rglob("*"))


def test_board_provisioning_through_micropython_file_operations(tmp_path, pki):
    """The board path (BoardFs: MicroPython code that `mpremote exec` runs on the board), with the unix port
    standing in for the board: the same code reads, writes (tmp + rename) and creates the certs folder."""
    root = tmp_path / "flash"
    root.mkdir()
    ran: list[str] = []

    def run(code: str) -> str:
        ran.append(code)
        r = mp.run(["-c", code], capture_output=True, timeout=60)
        return r.stdout + r.stderr

    board = provision.BoardFs(run, str(root), "unix port as the board")
    prov = provision.load(_prov_file(tmp_path, "wss://localhost:9/ocpp", str(pki / "ca.pem")))
    lines = provision.apply(prov, board, tmp_path, "gateway.json")
    assert any("ocpp.json url" in ln for ln in lines) and not any(PW in ln for ln in lines)
    cfg = json.loads((root / "ocpp.json").read_text())
    assert (root / cfg["ca"]).read_bytes() == (pki / "ca.pem").read_bytes()
    assert json.loads((root / "grid.json").read_text()) == {"grid_code": "VDE-AR-N-4110"}
    assert not list(root.rglob("*.tmp"))  # every file renamed into place
    assert provision.apply(prov, board, tmp_path, "gateway.json") == []  # nothing changes the second time
    # what the board holds is what the firmware loads
    r = mp.run_code(f"from ocpp import config\nc = config.load({str(root)!r})\nconfig.tls_context(c, {str(root)!r})\n"
                    "print(c['url'])")
    assert r.stdout.strip() == "wss://localhost:9/ocpp", r.stderr
    with pytest.raises(UserError, match="password must be 16..40"):
        provision.apply(provision.load(_prov_file(tmp_path, "wss://x/o", str(pki / "ca.pem"), "short")), board,
                        tmp_path, "gateway.json")


def test_sim_csms_options_take_host_paths(tmp_path, pki, csms):
    """The issue's example: --ca with a host path used to be read as <fs>//path and never connected."""
    right, _ = csms
    out = tmp_path / "out"
    p = _jezgro("sim", "--out", str(out), "--seconds", "8", "--quiet", "--no-plot", "--ev", "none",
                "--csms", _url(right), "--station-id", SID, "--security-profile", "2", "--password", PW,
                "--ca", str(pki / "ca.pem"))
    assert p.returncode == 0, p.stderr
    assert "OCPP: connected to" in p.stdout and "verified localhost" in p.stdout, p.stdout[-1500:]
