"""ISO 15118-20 DC BPT over TLS 1.3 with mutual authentication: our SECC (the unix port built from the
pinned MicroPython, mbedTLS with TLS 1.3, docs/platform.md) against the `iso15118` package's EVCC with
ENABLE_TLS_1_3 on, over the veth IPv6 link. The EVCC verifies our SECC certificate against its V2G root
and presents its OEM certificate chain, which our SECC verifies against the OEM root ([V2G20-2059]:
-20 authenticates both ends). The whole session runs from SDP to a clean SessionStop, and both ends
must report TLS 1.3 with one of -20's suites."""
from __future__ import annotations

import subprocess

import pytest

from jezgro_host.mp import pinned_build
from iso15118_peer import check_clean_session, need_peer, package_evcc_session, secc_start, wait_line
from test_iso15118_secc_20 import DC_SEQUENCE, NS_DC

# [V2G20-1856]: TLS_AES_256_GCM_SHA384 and TLS_CHACHA20_POLY1305_SHA256, in mbedTLS' names
SUITES_20 = ("TLS1-3-AES-256-GCM-SHA384", "TLS1-3-CHACHA20-POLY1305-SHA256")


def oem_pki(certs: dict, pki) -> bytes:
    """The EVCC's PKI folder: V2G root (to verify us), an OEM root and an OEM leaf + chain (to be
    verified by us). -> the OEM root (PEM), our SECC's CA for the client certificate."""
    d = certs["dir"]
    c = pki / "iso15118_2" / "certs"
    k = pki / "iso15118_2" / "private_keys"
    c.mkdir(parents=True)
    k.mkdir(parents=True)

    def ossl(*a: str) -> None:
        subprocess.run(["openssl", *a], check=True, capture_output=True, cwd=d)

    ossl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", "oem_ca.key", "-out", "oem_ca.pem", "-days", "2", "-subj", "/CN=OEM Test Root")
    ossl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", "oem.key", "-out", "oem.csr", "-subj", "/CN=OEM Test EV")
    ossl("x509", "-req", "-in", "oem.csr", "-CA", "oem_ca.pem", "-CAkey", "oem_ca.key", "-CAcreateserial",
         "-out", "oem.pem", "-days", "2")
    (c / "v2gRootCACert.pem").write_bytes(certs["ca"])
    (c / "oemRootCACert.pem").write_bytes((d / "oem_ca.pem").read_bytes())
    (c / "oemCertChain.pem").write_bytes((d / "oem.pem").read_bytes() + (d / "oem_ca.pem").read_bytes())
    (k / "oemLeaf.key").write_bytes((d / "oem.key").read_bytes())
    (k / "oemLeafPassword.txt").write_text("\n")
    return (d / "oem_ca.pem").read_bytes()


def test_iso15118_20_dc_bpt_over_tls13_with_the_package_evcc(v2g_link, certs, tmp_path, monkeypatch):
    need_peer()
    if not pinned_build():
        pytest.skip("the unix port from the PyPI wheel has no TLS 1.3: run `make firmware` (docs/platform.md)")
    link = v2g_link
    pki = tmp_path / "pki"
    oem_root = oem_pki(certs, pki)
    secc = secc_start({"iface": link.local, "sessions": 1, "accept_ms": 30000, "tcp": False,
                       "tls": [certs["cert"].hex(), certs["key"].hex(), oem_root.hex()],
                       "evse20": {"control_modes": ["Scheduled", "Dynamic"], "plan": [[3600, 20000], [3600, -10000]]}},
                      120000)
    ready = wait_line(secc, "READY")
    assert "16:" not in ready  # TLS offered only
    monkeypatch.setenv("ENABLE_TLS_1_3", "true")
    s, log, wall = package_evcc_session(link, tmp_path, {
        "supportedProtocols": ["ISO_15118_20_DC"], "supportedEnergyServices": ["DC_BPT"], "isCertInstallNeeded": False,
        "useTls": True, "enforceTls": True, "chargeLoopCycle": 10}, secc, 130, pki)
    r, sent = check_clean_session(s, log, NS_DC, DC_SEQUENCE)
    assert r["cipher"][1] == "TLSv1.3" and r["cipher"][0] in SUITES_20, r["cipher"]
    assert "Security: TLS" in log
    assert r["notes"]["service"] == "DC_BPT" and r["notes"]["channel"] == "Discharge", r["notes"]
    print(f"-20 DC BPT over {r['cipher']}: {r['duration_ms']} ms on our side, {wall:.1f} s wall")
