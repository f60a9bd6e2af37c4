# Device model (OCPP 2.0.1 part 2, Appendix 3 "Standardized Components"): the
# Core controllers plus SmartChargingCtrlr and ISO15118Ctrlr with the
# variables this station implements. Values are stored as OCPP strings and
# converted when read; writes of ReadWrite variables are persisted to the
# filesystem (atomically) so they survive reboots.
from jezgro import persist

RW = "ReadWrite"
RO = "ReadOnly"
INT = "integer"
BOOL = "boolean"
STR = "string"
LIST = "MemberList"

REGISTERS = "Energy.Active.Import.Register,Energy.Active.Export.Register"
# (component, variable): (dataType, mutability, default)
VARS = {
    ("OCPPCommCtrlr", "HeartbeatInterval"): (INT, RW, "300"),
    ("OCPPCommCtrlr", "MessageTimeout"): (INT, RW, "30"),
    ("OCPPCommCtrlr", "NetworkProfileConnectionAttempts"): (INT, RW, "3"),
    ("OCPPCommCtrlr", "OfflineThreshold"): (INT, RW, "60"),
    ("OCPPCommCtrlr", "MessageAttempts"): (INT, RW, "3"),
    ("OCPPCommCtrlr", "MessageAttemptInterval"): (INT, RW, "10"),
    ("OCPPCommCtrlr", "RetryBackOffRepeatTimes"): (INT, RW, "3"),
    ("OCPPCommCtrlr", "RetryBackOffRandomRange"): (INT, RW, "5"),
    ("OCPPCommCtrlr", "RetryBackOffWaitMinimum"): (INT, RW, "3"),
    ("OCPPCommCtrlr", "WebSocketPingInterval"): (INT, RW, "0"),
    ("OCPPCommCtrlr", "ResetRetries"): (INT, RW, "1"),
    ("TxCtrlr", "EVConnectionTimeOut"): (INT, RW, "60"),
    ("TxCtrlr", "StopTxOnEVSideDisconnect"): (BOOL, RW, "true"),
    ("TxCtrlr", "StopTxOnInvalidId"): (BOOL, RW, "true"),
    ("TxCtrlr", "TxStartPoint"): (LIST, RW, "EVConnected,Authorized"),
    ("TxCtrlr", "TxStopPoint"): (LIST, RW, "EVConnected,Authorized"),
    ("DeviceDataCtrlr", "ItemsPerMessage"): (INT, RO, "16"),
    ("DeviceDataCtrlr", "BytesPerMessage"): (INT, RO, "8192"),
    ("ClockCtrlr", "DateTime"): ("dateTime", RO, ""),
    ("ClockCtrlr", "TimeSource"): (LIST, RW, "Heartbeat"),
    ("SecurityCtrlr", "SecurityProfile"): (INT, RO, "0"),
    ("SecurityCtrlr", "OrganizationName"): (STR, RW, "JEZGRO"),
    ("SecurityCtrlr", "CertificateEntries"): (INT, RO, "0"),
    ("SampledDataCtrlr", "TxUpdatedInterval"): (INT, RW, "60"),
    ("SampledDataCtrlr", "TxStartedMeasurands"): (LIST, RW, REGISTERS),
    ("SampledDataCtrlr", "TxUpdatedMeasurands"): (LIST, RW, REGISTERS + ",Power.Active.Import,Power.Active.Export,"
                                                                        "Current.Import,Voltage,SoC"),
    ("SampledDataCtrlr", "TxEndedMeasurands"): (LIST, RW, REGISTERS),
    # 0: the Ended event has the end values only; else a series every N s (ocpp/transaction.py caps it)
    ("SampledDataCtrlr", "TxEndedInterval"): (INT, RW, "0"),
    ("AlignedDataCtrlr", "Interval"): (INT, RW, "900"),
    ("AlignedDataCtrlr", "Measurands"): (LIST, RW, REGISTERS),
    ("AuthCtrlr", "AuthorizeRemoteStart"): (BOOL, RW, "false"),
    ("AuthCtrlr", "LocalAuthorizeOffline"): (BOOL, RW, "true"),
    ("AuthCtrlr", "LocalPreAuthorize"): (BOOL, RW, "false"),
    ("AuthCtrlr", "OfflineTxForUnknownIdEnabled"): (BOOL, RW, "false"),
    # Autocharge: the EV's EVCCID (ISO 15118 SessionSetupReq) is the idToken, type MacAddress
    ("AuthCtrlr", "AutochargeEnabled"): (BOOL, RW, "false"),
    ("AuthCacheCtrlr", "Enabled"): (BOOL, RW, "true"),
    # the local authorization list (ocpp/local_list.py): Entries counts it, at most MAX_ENTRIES (64)
    ("LocalAuthListCtrlr", "Enabled"): (BOOL, RW, "true"),
    ("LocalAuthListCtrlr", "Available"): (BOOL, RO, "true"),
    ("LocalAuthListCtrlr", "Entries"): (INT, RO, "0"),
    ("LocalAuthListCtrlr", "ItemsPerMessage"): (INT, RO, "64"),
    ("LocalAuthListCtrlr", "BytesPerMessage"): (INT, RO, "8192"),
    ("LocalAuthListCtrlr", "DisablePostAuthorize"): (BOOL, RW, "false"),
    ("SmartChargingCtrlr", "Enabled"): (BOOL, RW, "true"),
    ("SmartChargingCtrlr", "RateUnit"): (LIST, RO, "W,A"),
    ("SmartChargingCtrlr", "PeriodsPerSchedule"): (INT, RO, "24"),
    ("SmartChargingCtrlr", "ProfileStackLevel"): (INT, RO, "8"),
    ("SmartChargingCtrlr", "Entries"): (INT, RO, "0"),
    ("ISO15118Ctrlr", "ContractValidationOffline"): (BOOL, RW, "true"),
    ("ISO15118Ctrlr", "V2GCertificateInstallationEnabled"): (BOOL, RW, "true"),
    ("ISO15118Ctrlr", "PnCEnabled"): (BOOL, RW, "false"),
}
FILE = "ocpp_dm.json"


def _key(k):
    c, _, n = k.partition(".")
    return c, n


def _valid(spec, value):
    # a value of the variable's type (what SetVariables accepts, and what a loaded file must hold)
    if spec is None or not isinstance(value, str) or len(value) > 1000:
        return False
    if spec[0] == INT:
        try:
            return int(value) >= 0
        except ValueError:
            return False
    return spec[0] != BOOL or value in ("true", "false")


def _check(d):
    # ocpp_dm.json: {"Component.variable": "value"}; unknown variables and non-strings are dropped
    if not isinstance(d, dict):
        return None, "not a JSON object"
    bad = [k for k, v in d.items() if not _valid(VARS.get(_key(k)), v)]
    for k in bad:
        del d[k]
    return d, len(bad)


class DeviceModel:
    def __init__(self, fs_root):
        self.path = fs_root + "/" + FILE
        self.values = {}
        d = persist.load_json(self.path, {}, _check)
        for k, v in d.items():
            self.values[_key(k)] = v

    def get(self, comp, var):
        # The string value, or None when the variable does not exist.
        spec = VARS.get((comp, var))
        if spec is None:
            return None
        return self.values.get((comp, var), spec[2])

    def int(self, comp, var):
        return int(self.get(comp, var))

    def set(self, comp, var, value, force=False):
        # SetVariableStatus string: Accepted / Rejected / UnknownComponent / UnknownVariable.
        if not any(c == comp for (c, _) in VARS):
            return "UnknownComponent"
        spec = VARS.get((comp, var))
        if spec is None:
            return "UnknownVariable"
        if spec[1] == RO and not force:
            return "Rejected"
        if not _valid(spec, value):
            return "Rejected"
        self.values[(comp, var)] = value
        if not force:
            self.save()
        return "Accepted"

    def save(self):
        persist.save_json(self.path, {"%s.%s" % k: v for k, v in self.values.items()})

    def entry(self, c, n):
        # One NotifyReport reportData entry.
        typ, mut, _ = VARS[(c, n)]
        attr = {"type": "Actual", "mutability": mut}
        v = self.get(c, n)
        if v:
            attr["value"] = v
        return {"component": {"name": c}, "variable": {"name": n}, "variableAttribute": [attr],
                "variableCharacteristics": {"dataType": typ, "supportsMonitoring": False}}

    def keys(self, writable_only=False):
        return [k for k, spec in VARS.items() if not writable_only or spec[1] == RW]
