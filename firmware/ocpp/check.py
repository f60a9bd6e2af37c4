# Minimal payload checks for requests from the CSMS: the firmware carries no
# JSON schemas, so each operation states its required fields and types here
# and gets the OCPP-J error code a schema validator would give.
from ocpp.rpc import RpcError  # noqa: F401 (ops raise check.RpcError)


def field(p, name, typ, required=True, mid="-1"):
    v = p.get(name)
    if v is None:
        if required:
            raise RpcError("OccurrenceConstraintViolation", "missing " + name, mid)
        return None
    if typ is int and (not isinstance(v, int) or isinstance(v, bool)):
        raise RpcError("TypeConstraintViolation", name + " must be an integer", mid)
    if typ is float and (not isinstance(v, (int, float)) or isinstance(v, bool)):
        raise RpcError("TypeConstraintViolation", name + " must be a number", mid)
    if typ in (str, dict, list, bool) and not isinstance(v, typ):
        raise RpcError("TypeConstraintViolation", "%s must be %s" % (name, typ.__name__), mid)
    return v


def enum(p, name, values, required=True, mid="-1"):
    v = field(p, name, str, required, mid)
    if v is not None and v not in values:
        raise RpcError("PropertyConstraintViolation", "%s: %s not allowed" % (name, v), mid)
    return v


def compact(d):
    # Optional fields that are absent are omitted, never sent as null.
    return {k: v for k, v in d.items() if v is not None}
