# OCPP-J RPC framing (OCPP-J 2.0.1 §4): CALL [2,id,action,{}], CALLRESULT
# [3,id,{}], CALLERROR [4,id,code,description,{}]. Codec only: the session
# (one outstanding CALL per direction, timeouts) is in ocpp.client.
import json
from micropython import const

CALL = const(2)
CALLRESULT = const(3)
CALLERROR = const(4)
MAX_ID = const(36)

ERROR_CODES = ("FormatViolation", "GenericError", "InternalError", "MessageTypeNotSupported",
               "NotImplemented", "NotSupported", "OccurrenceConstraintViolation",
               "PropertyConstraintViolation", "ProtocolError", "RpcFrameworkError",
               "SecurityError", "TypeConstraintViolation")


class RpcError(Exception):
    # An incoming message that gets a CALLERROR back: the id to answer with (or "-1").
    def __init__(self, code, text, msg_id="-1"):
        super().__init__(text)
        self.code = code
        self.msg_id = msg_id


def call(msg_id, action, payload):
    return json.dumps([CALL, msg_id, action, payload])


def result(msg_id, payload):
    return json.dumps([CALLRESULT, msg_id, payload])


def error(msg_id, code, text):
    return json.dumps([CALLERROR, msg_id, code, text[:255], {}])


def normalize_code(code):
    # Some peers still send the OCPP 1.6 misspelling.
    return "FormatViolation" if code == "FormationViolation" else code


def parse(text):
    # (type, id, action_or_code, payload, description) or raises RpcError.
    try:
        m = json.loads(text)
    except ValueError:
        raise RpcError("RpcFrameworkError", "message is not valid JSON")
    if not isinstance(m, list) or len(m) < 3:
        raise RpcError("RpcFrameworkError", "message is not an OCPP-J array")
    t = m[0]
    mid = m[1]
    if not isinstance(mid, str) or not 0 < len(mid) <= MAX_ID:
        raise RpcError("RpcFrameworkError", "unreadable message id")
    if t == CALL:
        if len(m) != 4 or not isinstance(m[2], str):
            raise RpcError("RpcFrameworkError", "CALL needs [2,id,action,payload]", mid)
        if not isinstance(m[3], dict):
            raise RpcError("FormatViolation", "payload is not an object", mid)
        return CALL, mid, m[2], m[3], None
    if t == CALLRESULT:
        if len(m) != 3 or not isinstance(m[2], dict):
            raise RpcError("FormatViolation", "CALLRESULT needs [3,id,payload]", mid)
        return CALLRESULT, mid, None, m[2], None
    if t == CALLERROR:
        if len(m) < 4 or not isinstance(m[2], str):
            raise RpcError("FormatViolation", "CALLERROR needs [4,id,code,description,details]", mid)
        return CALLERROR, mid, normalize_code(m[2]), m[4] if len(m) > 4 else {}, m[3]
    raise RpcError("MessageTypeNotSupported", "message type %r" % (t,), mid)
