"""A whole ISO 15118-2 DC session over TLS 1.2, captured: our SECC offering TLS only (certificate from
a test CA) against the `iso15118` package's EVCC, which verifies that certificate against its V2G root
and runs SDP → TLS → supportedAppProtocol → … → SessionStop. The SECC's pcapng holds the SDP exchange
and the session's V2GTP messages (the tap sits above TLS: it records what the session layer sent and
received), and Wireshark reads it with docs/v2gtp.lua."""
from __future__ import annotations

import shutil

from pcapng_check import read, v2gtp_messages
from iso15118_peer import ISO2_NS, ISO2_SEQUENCE, check_clean_session, need_peer, package_evcc_session, secc_start, wait_line
from pcapng_check import check_with_tshark

SUITE_2 = "TLS-ECDHE-ECDSA-WITH-AES-128-CBC-SHA256"  # ISO 15118-2's mandatory suite


def test_iso2_dc_session_over_tls_with_pcapng_capture(v2g_link, certs, tmp_path):
    need_peer()
    link = v2g_link
    pcap = tmp_path / "session.pcapng"
    secc = secc_start({"iface": link.local, "sessions": 1, "accept_ms": 30000, "tcp": False,
                       "tls": [certs["cert"].hex(), certs["key"].hex(), ""], "pcapng": str(pcap)}, 90000)
    ready = wait_line(secc, "READY")
    assert "16:" not in ready  # TLS offered only
    pki = tmp_path / "pki"
    (pki / "iso15118_2" / "certs").mkdir(parents=True)
    (pki / "iso15118_2" / "certs" / "v2gRootCACert.pem").write_bytes(certs["ca"])
    s, log, _ = package_evcc_session(link, tmp_path, {
        "supportedProtocols": ["ISO_15118_2"], "supportedEnergyServices": ["DC"], "energyTransferMode": "DC_extended",
        "isCertInstallNeeded": False, "useTls": True, "enforceTls": True, "chargeLoopCycle": 10}, secc, 100, pki)
    r, _ = check_clean_session(s, log, ISO2_NS, ISO2_SEQUENCE)
    assert r["cipher"] == [SUITE_2, "TLSv1.2"]
    assert "Security: TLS" in log
    # The capture: one SDP exchange, then the session's frames in both directions, in order.
    pc = read(str(pcap))
    assert pc.linktype == 101 and pc.if_name == link.local
    assert [p.payload[2:4].hex() for p in pc.udp()] == ["9000", "9001"]
    streams = pc.tcp_streams()
    ports = [int(p) for p in s["offers"].values()]
    assert len(streams) == 2
    (to_secc,) = [v for (sp, dp), v in streams.items() if dp in ports]
    (to_ev,) = [v for (sp, dp), v in streams.items() if sp in ports]
    requests, responses = v2gtp_messages(to_secc), v2gtp_messages(to_ev)
    assert len(requests) == len(r["requests"]) and len(responses) == len(r["responses"])
    assert {pt for pt, _ in requests + responses} == {0x8001}
    if shutil.which("tshark"):
        n = len(requests) + len(responses)
        types = ["0x9000", "0x9001"] + ["0x8001"] * n
        check_with_tshark(pcap, types)
    print(f"TLS session: {r['duration_ms']} ms, {len(requests)} requests captured, "
          f"charge-loop response mean {sum(r['loop_us']) / len(r['loop_us']) / 1000:.1f} ms")
