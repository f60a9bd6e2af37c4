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
    "ReserveNow": ("ReserveNow", "evseId -> connectorId (required: a reservation of any EVSE is Rejected), id -> "
                   "reservationId, expiryDateTime -> expiryDate, idToken.idToken -> idTag, groupIdToken.idToken -> "
                   "parentIdTag (connectorType not sent); status by RESERVE_STATUS"),
    "CancelReservation": ("CancelReservation", "to the charger that accepted that reservationId (Rejected when "
                          "none did); status by CANCEL_STATUS"),
    "SendLocalList": ("SendLocalList", "to EVERY charger: versionNumber -> listVersion, updateType as is, "
                      "idToken.idToken -> idTag, idTokenInfo -> idTagInfo (ID_TAG_INFO); answers combined by "
                      "LOCAL_LIST_STATUS"),
    "GetLocalListVersion": ("GetLocalListVersion", "to EVERY charger: the lowest listVersion answered (-1 "
                            "unsupported and no answer count as 0)"),
}

# CSMS requests that go to every charger at once (the answers combined), not to one EVSE's charger
TO_ALL = ("SendLocalList", "GetLocalListVersion")

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
# 1.6 ReservationStatus -> 2.0.1 ReserveNowStatusEnumType (the same five words)
RESERVE_STATUS = {"Accepted": "Accepted", "Faulted": "Faulted", "Occupied": "Occupied", "Rejected": "Rejected",
                  "Unavailable": "Unavailable"}
# 1.6 CancelReservationStatus -> 2.0.1 CancelReservationStatusEnumType
CANCEL_STATUS = {"Accepted": "Accepted", "Rejected": "Rejected"}
# 2.0.1 idTokenInfo field -> 1.6 idTagInfo field (status through tables16.AUTH_STATUS; the other
# 2.0.1 fields, chargingPriority, language, personalMessage, evseId, have no 1.6 place and are dropped)
ID_TAG_INFO = (("status", "status"), ("cacheExpiryDateTime", "expiryDate"), ("groupIdToken.idToken", "parentIdTag"))
# SendLocalList: 1.6 UpdateStatus of each charger -> 2.0.1 SendLocalListStatusEnumType. The CSMS gets
# Accepted only when every charger answered Accepted; else VersionMismatch when any charger said so
# (the CSMS then sends a Full list), else Failed with statusInfo naming the chargers (reasonCode
# "ChargerFailed"). A charger away or silent counts as Failed.
LOCAL_LIST_STATUS = {"Accepted": "Accepted", "Failed": "Failed", "NotSupported": "Failed",
                     "VersionMismatch": "VersionMismatch"}
