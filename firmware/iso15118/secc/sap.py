# supportedAppProtocol negotiation (ISO 15118-2 §8.2 / DIN 70121 §9.1): the EV lists protocols with a
# priority (1 = highest); we pick the highest-priority one we support with a matching major version.

DIN = "urn:din:70121:2012:MsgDef"
ISO2 = "urn:iso:15118:2:2013:MsgDef"
ISO20_DC = "urn:iso:std:iso:15118:-20:DC"
ISO20_AC = "urn:iso:std:iso:15118:-20:AC"
# namespace -> (our major version, our minor version, schema name for the codec): the protocols the
# SECC has a state machine for. -20 messages come in two schema sets each (common + DC or AC): the
# entry names the energy-specific one, the session adds "iso20-common".
SUPPORTED = {ISO20_DC: (1, 0, "iso20-dc"), ISO20_AC: (1, 0, "iso20-ac"), ISO2: (2, 0, "iso2"), DIN: (2, 0, "din")}


def negotiate(req, supported=SUPPORTED):
    # req: the supportedAppProtocolReq body. -> (response body, namespace or None, schema id or None)
    best = None
    for ap in req.get("AppProtocol", ()):
        ours = supported.get(ap.get("ProtocolNamespace"))
        if ours is None or ap.get("VersionNumberMajor") != ours[0]:
            continue
        if best is None or ap["Priority"] < best["Priority"]:
            best = ap
    if best is None:
        return {"ResponseCode": "Failed_NoNegotiation"}, None, None
    minor_ok = best.get("VersionNumberMinor") == supported[best["ProtocolNamespace"]][1]
    code = "OK_SuccessfulNegotiation" if minor_ok else "OK_SuccessfulNegotiationWithMinorDeviation"
    return {"ResponseCode": code, "SchemaID": best["SchemaID"]}, best["ProtocolNamespace"], best["SchemaID"]
