# supportedAppProtocolReq from the EV's protocol list (ISO 15118-2 §8.2 / DIN 70121 §9.1): entry i of
# the list gets Priority i+1 (1 = highest) and SchemaID i+1; the response's SchemaID names the
# protocol the SECC chose.

DIN = "urn:din:70121:2012:MsgDef"
ISO2 = "urn:iso:15118:2:2013:MsgDef"
ISO20_DC = "urn:iso:std:iso:15118:-20:DC"
ISO20_AC = "urn:iso:std:iso:15118:-20:AC"

# namespace -> (major, minor) version the EV announces
VERSIONS = {DIN: (2, 0), ISO2: (2, 0), ISO20_DC: (1, 0), ISO20_AC: (1, 0)}

OK_CODES = ("OK_SuccessfulNegotiation", "OK_SuccessfulNegotiationWithMinorDeviation")


class SapError(ValueError):
    pass


def build_req(namespaces):
    # namespaces: in the EV's order of preference -> supportedAppProtocolReq body
    if not namespaces or len(namespaces) > 20:
        raise SapError("1..20 protocols needed, got %d" % len(namespaces))
    aps = []
    for i, ns in enumerate(namespaces):
        v = VERSIONS.get(ns)
        if v is None:
            raise SapError("unknown protocol namespace %s" % ns)
        aps.append({"ProtocolNamespace": ns, "VersionNumberMajor": v[0], "VersionNumberMinor": v[1],
                    "SchemaID": i + 1, "Priority": i + 1})
    return {"AppProtocol": aps}


def chosen(req, res):
    # -> namespace the SECC selected; SapError on a failed negotiation or an unknown SchemaID
    code = res.get("ResponseCode")
    if code not in OK_CODES:
        raise SapError("supportedAppProtocolRes %s" % code)
    sid = res.get("SchemaID")
    for ap in req["AppProtocol"]:
        if ap["SchemaID"] == sid:
            return ap["ProtocolNamespace"]
    raise SapError("SchemaID %s is none of ours" % sid)
