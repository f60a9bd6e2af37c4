"""The two codecs the EXI tests and benches compare, each as a JSON Lines subprocess:
the iso15118 package's EXIficient codec (jar_peer.py in .venv-iso15118) and the firmware codec
under unix MicroPython (tests_host/mp/x_exi_batch.py)."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

from .. import mp
from ..mp import MP_TESTS, ROOT

ISO_PY = ROOT / ".venv-iso15118" / "bin" / "python"

# the namespace the iso15118 package's codec selects its grammar by
NAMESPACE = {
    "handshake": "urn:iso:15118:2:2010:AppProtocol",
    "din": "urn:din:70121:2012:MsgDef",
    "iso2": "urn:iso:15118:2:2013:MsgDef",
    "iso20-common": "urn:iso:std:iso:15118:-20:CommonMessages",
    "iso20-dc": "urn:iso:std:iso:15118:-20:DC",
    "iso20-ac": "urn:iso:std:iso:15118:-20:AC",
}


class _LinePeer:
    def __init__(self, cmd: list[str], env: dict[str, str] | None = None):
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
                                  cwd=ROOT)

    def ask(self, req: dict) -> dict:
        assert self.p.stdin is not None and self.p.stdout is not None
        self.p.stdin.write(json.dumps(req) + "\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        if not line:
            raise RuntimeError(f"peer {self.p.args[0]} died (exit {self.p.wait()})")
        return json.loads(line)

    def close(self) -> None:
        if self.p.stdin:
            self.p.stdin.close()
        try:
            self.p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.p.kill()


class JarPeer(_LinePeer):
    """EXIficient via the iso15118 package (needs `make` to have built .venv-iso15118, and java)."""

    def __init__(self):
        if not ISO_PY.exists():
            raise RuntimeError("the iso15118 peer venv is missing: run `make test` (it builds .venv-iso15118)")
        super().__init__([str(ISO_PY), str(Path(__file__).with_name("jar_peer.py"))])

    def encode(self, schema: str, doc: dict) -> dict:
        return self.ask({"op": "encode", "ns": NAMESPACE[schema], "json": json.dumps(doc)})

    def decode(self, schema: str, hexstr: str) -> dict:
        ans = self.ask({"op": "decode", "ns": NAMESPACE[schema], "hex": hexstr})
        if "json" in ans:
            return {"doc": json.loads(ans["json"])}
        return ans


class MpCodec(_LinePeer):
    """The firmware codec under unix MicroPython."""

    def __init__(self, heap: str = "16M"):
        super().__init__(mp.micropython_cmd([str(MP_TESTS / "x_exi_batch.py")], heap),
                         mp.micropython_env(board=None, extra=[MP_TESTS]))

    def encode(self, schema: str, doc: dict) -> dict:
        return self.ask({"op": "enc", "schema": schema, "doc": doc})

    def decode(self, schema: str, hexstr: str, budget: int | None = None) -> dict:
        req: dict = {"op": "dec", "schema": schema, "hex": hexstr}
        if budget is not None:
            req["budget"] = budget
        return self.ask(req)
