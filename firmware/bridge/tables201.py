# OCPP 2.0.1 -> 1.6J translation tables: what the CSMS asks of a charger behind the bridge
# (TRANSLATOR, source "ocpp16"). Data only, printed by `jezgro bridge map`; the code is
# bridge/translate201.py, the choices are in docs/bridge.md.

# CSMS request -> (1.6 CALL to the charger, how). A request that names no charger EVSE is the
# gateway's own (its 2.0.1 station answers it, ocpp/ops); "-" marks requests never sent down.
TO_CHARGER = {
    "RequestStartTransaction": ("RemoteStartTransaction", "evseId -> connectorId, idToken.idToken -> idTag, "
                                "chargingProfile as TxProfile in the charger's unit; remoteStartId reported with "
                                "the Started event that follows"),
    "RequestStopTransaction": ("RemoteStopTransaction", "2.0.1 transactionId -> the charger's integer id"),
    "SetChargingProfile": ("SetChargingProfile", "evseId -> connectorId, purposes by PURPOSE, the first "
                           "schedule, limits converted A <-> W with the charger's phases and voltage"),
    "ClearChargingProfile": ("ClearChargingProfile", "by profile id (the charger it was set on) or by "
                             "evseId/purpose/stackLevel"),
    "GetCompositeSchedule": ("GetCompositeSchedule", "evseId -> connectorId; the schedule back in the unit asked"),
    "GetVariables": ("GetConfiguration", "component with an evse of a charger: KEYS (component, variable) -> key"),
    "SetVariables": ("ChangeConfiguration", "one variable of a charger's component per request (KEYS)"),
    "Reset": ("Reset", "with evseId: Immediate -> Hard, OnIdle -> Soft"),
    "UnlockConnector": ("UnlockConnector", "evseId -> connectorId"),
    "ChangeAvailability": ("ChangeAvailability", "with evse: Operative/Inoperative of that connector"),
    "TriggerMessage": ("TriggerMessage", "with evse: BootNotification, Heartbeat, MeterValues, StatusNotification"),
}

# 2.0.1 chargingProfilePurpose -> 1.6 (None: refused, the CSMS is told Rejected)
PURPOSE = {
    "ChargingStationMaxProfile": "ChargePointMaxProfile",
    "TxDefaultProfile": "TxDefaultProfile",
    "TxProfile": "TxProfile",
    "ChargingStationExternalConstraints": None,  # set by the station's EMS, never by a CSMS (K01.FR.22)
}

# (2.0.1 component, variable) <-> 1.6 configuration key, for a charger's EVSE component
KEYS = (
    ("OCPPCommCtrlr", "HeartbeatInterval", "HeartbeatInterval"),
    ("OCPPCommCtrlr", "WebSocketPingInterval", "WebSocketPingInterval"),
    ("OCPPCommCtrlr", "ResetRetries", "ResetRetries"),
    ("OCPPCommCtrlr", "MessageAttempts", "TransactionMessageAttempts"),
    ("OCPPCommCtrlr", "MessageAttemptInterval", "TransactionMessageRetryInterval"),
    ("TxCtrlr", "EVConnectionTimeOut", "ConnectionTimeOut"),
    ("TxCtrlr", "StopTxOnEVSideDisconnect", "StopTransactionOnEVSideDisconnect"),
    ("TxCtrlr", "StopTxOnInvalidId", "StopTransactionOnInvalidId"),
    ("SampledDataCtrlr", "TxUpdatedInterval", "MeterValueSampleInterval"),
    ("SampledDataCtrlr", "TxUpdatedMeasurands", "MeterValuesSampledData"),
    ("SampledDataCtrlr", "TxEndedMeasurands", "StopTxnSampledData"),
    ("AlignedDataCtrlr", "Interval", "ClockAlignedDataInterval"),
    ("AlignedDataCtrlr", "Measurands", "MeterValuesAlignedData"),
    ("AlignedDataCtrlr", "TxEndedMeasurands", "StopTxnAlignedData"),
    ("AuthCtrlr", "LocalAuthorizeOffline", "LocalAuthorizeOffline"),
    ("AuthCtrlr", "LocalPreAuthorize", "LocalPreAuthorize"),
    ("AuthCtrlr", "AuthorizeRemoteStart", "AuthorizeRemoteTxRequests"),
    ("AuthCacheCtrlr", "Enabled", "AuthorizationCacheEnabled"),
    ("LocalAuthListCtrlr", "Enabled", "LocalAuthListEnabled"),
    ("SmartChargingCtrlr", "ProfileStackLevel", "ChargeProfileMaxStackLevel"),
    ("SmartChargingCtrlr", "PeriodsPerSchedule", "ChargingScheduleMaxPeriods"),
    ("SmartChargingCtrlr", "RateUnit", "ChargingScheduleAllowedChargingRateUnit"),
)

RESET_TYPE = {"Immediate": "Hard", "OnIdle": "Soft"}
# 1.6 UnlockStatus -> 2.0.1 UnlockStatusEnumType
UNLOCK = {"Unlocked": "Unlocked", "UnlockFailed": "UnlockFailed", "NotSupported": "UnlockFailed"}
# 1.6 ConfigurationStatus -> 2.0.1 SetVariableStatusEnumType
CONFIG_STATUS = {"Accepted": "Accepted", "Rejected": "Rejected", "RebootRequired": "RebootRequired",
                 "NotSupported": "UnknownVariable"}
TRIGGERS = ("BootNotification", "Heartbeat", "MeterValues", "StatusNotification")
# 1.6 TriggerMessageStatus -> 2.0.1 TriggerMessageStatusEnumType
TRIGGER_STATUS = {"Accepted": "Accepted", "Rejected": "Rejected", "NotImplemented": "NotImplemented"}
