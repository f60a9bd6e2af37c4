"""Strict reader for the pcapng files firmware/iso15118/capture.py writes: every block length, the
SHB/IDB fields, IPv6 headers, UDP/TCP checksums and TCP sequence continuity are checked, and the TCP
byte streams are reassembled so tests can compare the V2GTP messages with what was sent."""
from __future__ import annotations

import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

LINKTYPE_RAW = 101


@dataclass
class Packet:
    ts_us: int
    src: bytes
    dst: bytes
    proto: int
    sport: int
    dport: int
    payload: bytes
    flags: int = 0
    seq: int = 0


@dataclass
class Pcap:
    linktype: int
    if_name: str
    packets: list[Packet] = field(default_factory=list)

    def udp(self) -> list[Packet]:
        return [p for p in self.packets if p.proto == 17]

    def tcp_streams(self) -> dict[tuple[int, int], bytes]:
        """(sport, dport) -> concatenated payload, after checking sequence continuity."""
        nxt: dict[tuple[int, int], int] = {}
        out: dict[tuple[int, int], bytes] = {}
        for p in self.packets:
            if p.proto != 6:
                continue
            key = (p.sport, p.dport)
            if p.flags & 0x02:  # SYN
                nxt[key] = p.seq + 1
                out.setdefault(key, b"")
                continue
            assert key in nxt, f"segment on {key} before its SYN"
            assert p.seq == nxt[key], f"seq gap on {key}: {p.seq} != {nxt[key]}"
            nxt[key] += len(p.payload) + (1 if p.flags & 0x01 else 0)
            out[key] += p.payload
        return out


def _csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f">{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def read(path: str) -> Pcap:
    raw = open(path, "rb").read()
    off = 0
    pc: Pcap | None = None
    seen_shb = False
    while off < len(raw):
        assert len(raw) - off >= 12, "truncated block"
        btype, blen = struct.unpack_from("<II", raw, off)
        assert blen % 4 == 0 and blen >= 12 and off + blen <= len(raw), f"bad block length {blen}"
        assert struct.unpack_from("<I", raw, off + blen - 4)[0] == blen, "trailing length differs"
        body = raw[off + 8: off + blen - 4]
        if btype == 0x0A0D0D0A:
            magic, major, minor = struct.unpack_from("<IHH", body, 0)
            assert magic == 0x1A2B3C4D and (major, minor) == (1, 0)
            seen_shb = True
        elif btype == 1:
            assert seen_shb
            lt, _res, _snap = struct.unpack_from("<HHI", body, 0)
            name = ""
            o = 8
            while o < len(body):
                code, ln = struct.unpack_from("<HH", body, o)
                if code == 0:
                    break
                if code == 2:
                    name = body[o + 4:o + 4 + ln].decode()
                o += 4 + ln + (-ln % 4)
            pc = Pcap(lt, name)
        elif btype == 6:
            assert pc is not None, "EPB before IDB"
            ifid, th, tl, cap, orig = struct.unpack_from("<IIIII", body, 0)
            assert ifid == 0 and cap == orig
            pc.packets.append(_ipv6((th << 32) | tl, body[20:20 + cap]))
        off += blen
    assert pc is not None
    return pc


def _ipv6(ts: int, pkt: bytes) -> Packet:
    assert pkt[0] >> 4 == 6, "not IPv6"
    plen, nh = struct.unpack_from(">HB", pkt, 4)
    assert plen == len(pkt) - 40, "IPv6 payload length"
    src, dst, up = pkt[8:24], pkt[24:40], pkt[40:]
    pseudo = src + dst + struct.pack(">IxxxB", len(up), nh)
    assert _csum(pseudo + up) == 0xFFFF, f"bad {'UDP' if nh == 17 else 'TCP'} checksum"
    if nh == 17:
        sp, dp, ln = struct.unpack_from(">HHH", up, 0)
        assert ln == len(up)
        return Packet(ts, src, dst, 17, sp, dp, up[8:])
    assert nh == 6
    sp, dp, seq, _ack, off, flags = struct.unpack_from(">HHIIBB", up, 0)
    return Packet(ts, src, dst, 6, sp, dp, up[(off >> 4) * 4:], flags, seq)


def v2gtp_messages(stream: bytes) -> list[tuple[int, bytes]]:
    out = []
    i = 0
    while i < len(stream):
        ver, inv, pt, n = struct.unpack_from(">BBHI", stream, i)
        assert (ver, inv) == (1, 0xFE)
        out.append((pt, stream[i + 8:i + 8 + n]))
        i += 8 + n
    assert i == len(stream)
    return out


def check_with_tshark(path: Path, expect_types: list[str]) -> None:
    """Wireshark itself reads the file: no malformed packets, valid checksums, V2GTP dissected with
    docs/v2gtp.lua (stock Wireshark has no V2GTP dissector)."""
    base = ["tshark", "-n", "-r", str(path), "-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE"]
    bad = subprocess.run(base + ["-Y", "_ws.malformed || _ws.expert.severity >= error || "
                                 "tcp.checksum.status == 0 || udp.checksum.status == 0"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 0 and bad.stdout.strip() == "", bad.stdout + bad.stderr
    out = subprocess.run(base + ["-X", f"lua_script:{ROOT / 'docs' / 'v2gtp.lua'}", "-Y", "v2gtp",
                                 "-T", "fields", "-e", "v2gtp.payload_type"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    types = [t for line in out.stdout.split() for t in line.split(",")]
    assert types == expect_types, out.stdout
