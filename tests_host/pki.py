"""Test certificates made with the `openssl` CLI: a CA and leaf certificates signed by it (P-256)."""
from __future__ import annotations

import subprocess
from pathlib import Path


def _ossl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(d: Path, name: str):
    _ossl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f"{name}.key", cwd=d)
    _ossl("req", "-x509", "-new", "-key", f"{name}.key", "-sha256", "-days", "2", "-subj", f"/CN={name}",
          "-out", f"{name}.pem", cwd=d)


def make_leaf(d: Path, ca: str, name: str, cn: str, san: str | None):
    _ossl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f"{name}.key", cwd=d)
    _ossl("req", "-new", "-key", f"{name}.key", "-subj", f"/CN={cn}", "-out", f"{name}.csr", cwd=d)
    ext = d / f"{name}.ext"
    ext.write_text(f"subjectAltName={san}\n" if san else "basicConstraints=CA:FALSE\n")
    _ossl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-CAcreateserial",
          "-days", "2", "-sha256", "-extfile", ext.name, "-out", f"{name}.pem", cwd=d)


def csms_pki(d: Path, *leaves: tuple[str, str, str | None]) -> Path:
    """d with ca/otherca, srv (a CSMS certificate for localhost signed by ca) and more leaves signed by ca,
    each (name, common name, subjectAltName or None)."""
    make_ca(d, "ca")
    make_ca(d, "otherca")
    make_leaf(d, "ca", "srv", "localhost", "DNS:localhost,IP:127.0.0.1")
    for name, cn, san in leaves:
        make_leaf(d, "ca", name, cn, san)
    return d
