"""Schema set names (as `jezgro exi --schema` takes them) -> generated grammar modules, imported on use."""
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
