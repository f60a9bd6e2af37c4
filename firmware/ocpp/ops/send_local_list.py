# SendLocalList (D01): the CSMS replaces (Full) or changes (Differential) the local authorization list
# (ocpp/local_list.py). A Differential entry without idTokenInfo removes its idToken; a Full entry
# without one is not in the new list. A Differential whose versionNumber is not above the list's
# answers VersionMismatch; a disabled list (LocalAuthListCtrlr.Enabled), versionNumber 0 or an update
# beyond the capacity answers Failed, and the list stays as it was.
from ocpp import check, local_list


def handle(cl, p, mid):
    version = check.field(p, "versionNumber", int, True, mid)
    full = check.enum(p, "updateType", ("Full", "Differential"), True, mid) == "Full"
    items = check.field(p, "localAuthorizationList", list, False, mid) or []
    entries = []
    for d in items:
        if not isinstance(d, dict):
            raise check.RpcError("TypeConstraintViolation", "localAuthorizationList entries must be objects", mid)
        tok = check.field(d, "idToken", dict, True, mid)
        check.field(tok, "idToken", str, True, mid)
        check.field(tok, "type", str, True, mid)
        info = check.field(d, "idTokenInfo", dict, False, mid)
        st = check.enum(info, "status", local_list.STATUSES, True, mid) if info is not None else None
        if st is not None or not full:
            entries.append((local_list.key(tok), st))
    return {"status": local_list.of(cl).update(version, full, entries)}
