"""Schema set names (as `jezgro exi --schema` takes them) -> generated grammar modules, imported on use.

A session needs the handshake and one protocol's tables at a time (-20: common plus DC or AC), so
release() lets the service drop a grammar it no longer uses (each takes 15-20 KB of RAM as .mpy)."""
import sys

from exi.codec import EXIError

MODULES = {
    "handshake": "handshake",
    "din": "din",
    "iso2": "iso2",
    "iso20-common": "iso20_common",
    "iso20-dc": "iso20_dc",
    "iso20-ac": "iso20_ac",
}


def grammar(name: str):
    mod = MODULES.get(name)
    if mod is None:
        raise EXIError("unknown schema %s (one of %s)" % (name, ", ".join(MODULES)))
    pkg = __import__("exi.grammars." + mod)
    return getattr(pkg.grammars, mod)


def release(name: str) -> None:
    mod = MODULES.get(name)
    if mod is None:
        return
    sys.modules.pop("exi.grammars." + mod, None)
    pkg = sys.modules.get("exi.grammars")
    if pkg is not None and hasattr(pkg, mod):
        delattr(pkg, mod)
