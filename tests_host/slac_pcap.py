"""Ethernet frames to a classic pcap file and tshark's HomePlug AV dissector over it: every frame
decoded as HomePlug AV with the message type we meant, none marked malformed or with an expert error."""
from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

LINKTYPE_ETHERNET = 1


def write_pcap(path: Path, frames: list[bytes]) -> None:
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, LINKTYPE_ETHERNET)]
    for i, f in enumerate(frames):
        out.append(struct.pack("<IIII", 1, i * 1000, len(f), len(f)) + f)
    path.write_bytes(b"".join(out))


def tshark_infos(path: Path) -> list[str]:
    """tshark's Info column for every frame; asserts none is malformed, carries an expert warning or
    is not decoded as HomePlug AV."""
    if shutil.which("tshark") is None:
        pytest.skip("tshark missing (.ci/run installs it): dissector check skipped")
    base = ["tshark", "-n", "-r", str(path)]
    bad = subprocess.run(base + ["-Y", "_ws.malformed || _ws.expert.severity >= warning || !homeplug-av"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 0 and bad.stdout.strip() == "", bad.stdout + bad.stderr
    out = subprocess.run(base + ["-T", "fields", "-e", "_ws.col.Info"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()
