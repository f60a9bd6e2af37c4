# ISO 15118-20 basics both sides share (secc/iso20*.py, evcc/iso20*.py): where each message lives
# (schema set and V2GTP payload type), the message Header, service and parameter identifiers,
# response codes (RationalNumber <-> int is in values.py, with DIN/-2's PhysicalValue). -20 messages are top-level documents ({"DC_ChargeLoopReq": {"Header": ...}}),
# not V2G_Message envelopes as in DIN/-2.
import time
from exi.codec import EXIError

# supportedAppProtocol namespaces and the version we implement (ISO 15118-20:2022: 1.0)
NS_DC = "urn:iso:std:iso:15118:-20:DC"
NS_AC = "urn:iso:std:iso:15118:-20:AC"
VERSION = (1, 0)

# schema set -> V2GTP payload type (ISO 15118-20 Table 12)
PT_COMMON = 0x8002
PT_AC = 0x8003
PT_DC = 0x8004
COMMON = "iso20-common"
DC = "iso20-dc"
AC = "iso20-ac"
SCHEMA_PT = {COMMON: PT_COMMON, AC: PT_AC, DC: PT_DC}
PT_SCHEMA = {PT_COMMON: COMMON, PT_AC: AC, PT_DC: DC}

# The session ID an EVCC sends before it has one (SessionSetupReq of a new session): 8 zero bytes.
SESSION_ID_NEW = "0000000000000000"

# Energy transfer services (ServiceID, ISO 15118-20 Table 204) and the ServiceDetail parameters used.
SERVICE_IDS = {"AC": 1, "DC": 2, "WPT": 3, "DC_ACDP": 4, "AC_BPT": 5, "DC_BPT": 6, "DC_ACDP_BPT": 7}
SERVICE_NAMES = {v: k for k, v in SERVICE_IDS.items()}
CONTROL_MODES = {"Scheduled": 1, "Dynamic": 2}        # parameter "ControlMode"
CONTROL_MODE_NAMES = {1: "Scheduled", 2: "Dynamic"}
MOBILITY_NEEDS = {"EVCC": 1, "EVCC_SECC": 2}          # parameter "MobilityNeedsMode": who provides them
P_CONNECTOR = "Connector"
P_CONTROL_MODE = "ControlMode"
P_NOMINAL_V = "EVSENominalVoltage"
P_MOBILITY_NEEDS = "MobilityNeedsMode"
P_PRICING = "Pricing"
P_BPT_CHANNEL = "BPTChannel"
P_GENERATOR_MODE = "GeneratorMode"
P_GRID_CODE_DETECTION = "GridCodeIslandingDetectionMethod"

# Response codes this project sends or checks (ISO 15118-20 Table 218 responseCodeType).
OK = "OK"
OK_NEW_SESSION = "OK_NewSessionEstablished"
FAILED = "FAILED"
FAILED_SEQUENCE_ERROR = "FAILED_SequenceError"
FAILED_UNKNOWN_SESSION = "FAILED_UnknownSession"
FAILED_SERVICE_ID_INVALID = "FAILED_ServiceIDInvalid"
FAILED_SERVICE_SELECTION_INVALID = "FAILED_ServiceSelectionInvalid"
FAILED_NO_ENERGY_SERVICE = "FAILED_NoEnergyTransferServiceSelected"
FAILED_WRONG_CHARGE_PARAMETER = "FAILED_WrongChargeParameter"
FAILED_SCHEDULE_SELECTION_INVALID = "FAILED_ScheduleSelectionInvalid"
FAILED_POWER_PROFILE_INVALID = "FAILED_EVPowerProfileInvalid"


def schema_of(name):
    # Message (or response) name -> its schema set: DC_* and AC_* messages have their own.
    if name.startswith("DC_"):
        return DC
    if name.startswith("AC_"):
        return AC
    return COMMON


def payload_type(name):
    return SCHEMA_PT[schema_of(name)]


def header(session_id):
    # TimeStamp: seconds of the local clock (the board's epoch is 2000, the unix port's 1970); the
    # standard asks for Unix time, which the clock gives once it is set (SNTP/OCPP).
    return {"SessionID": session_id, "TimeStamp": int(time.time())}


def message(doc):
    # A decoded -20 document -> (message name, body with Header). Raises EXIError otherwise.
    if len(doc) != 1:
        raise EXIError("not one -20 message: %s" % list(doc))
    name, body = next(iter(doc.items()))
    if not isinstance(body, dict) or "Header" not in body:
        raise EXIError("%s without a Header" % name)
    return name, body

