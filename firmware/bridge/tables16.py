# OCPP 1.6J -> 2.0.1 translation tables (TRANSLATOR, source "ocpp16"). Data only: every
# mapping is one table a reader can audit against the two specifications; `jezgro bridge map`
# prints them and docs/bridge.md explains the choices. The code that applies them is
# bridge/translate16.py.

# 1.6 ChargePointStatus -> (2.0.1 ConnectorStatusEnumType, chargingState of a running
# transaction or None: no TransactionEvent for this status)
STATUS = {
    "Available": ("Available", None),
    "Preparing": ("Occupied", None),
    "Charging": ("Occupied", "Charging"),
    "SuspendedEV": ("Occupied", "SuspendedEV"),
    "SuspendedEVSE": ("Occupied", "SuspendedEVSE"),
    "Finishing": ("Occupied", "EVConnected"),
    "Reserved": ("Reserved", None),
    "Unavailable": ("Unavailable", None),
    "Faulted": ("Faulted", None),
}

# 1.6 StopTransaction.reason -> (2.0.1 stoppedReason, triggerReason of the Ended event)
STOP_REASON = {
    "EmergencyStop": ("EmergencyStop", "AbnormalCondition"),
    "EVDisconnected": ("EVDisconnected", "EVDeparted"),
    "HardReset": ("ImmediateReset", "ResetCommand"),
    "Local": ("Local", "StopAuthorized"),
    "Other": ("Other", "AbnormalCondition"),
    "PowerLoss": ("PowerLoss", "AbnormalCondition"),
    "Reboot": ("Reboot", "ResetCommand"),
    "Remote": ("Remote", "RemoteStop"),
    "SoftReset": ("Reboot", "ResetCommand"),
    "UnlockCommand": ("Other", "UnlockCommand"),
    "DeAuthorized": ("DeAuthorized", "Deauthorized"),
}
STOP_REASON_DEFAULT = "Local"  # 1.6: reason omitted means Local

# 2.0.1 AuthorizationStatusEnumType -> 1.6 AuthorizationStatus (idTagInfo.status)
AUTH_STATUS = {
    "Accepted": "Accepted",
    "Blocked": "Blocked",
    "ConcurrentTx": "ConcurrentTx",
    "Expired": "Expired",
    "Invalid": "Invalid",
    "NoCredit": "Invalid",
    "NotAllowedTypeEVSE": "Invalid",
    "NotAtThisLocation": "Invalid",
    "NotAtThisTime": "Invalid",
    "Unknown": "Invalid",
}

# 1.6 Measurand values that exist in 2.0.1 under the same name; the others (Temperature, RPM)
# have no 2.0.1 measurand: the sampled value is dropped and counted.
MEASURANDS = ("Current.Export", "Current.Import", "Current.Offered", "Energy.Active.Export.Register",
              "Energy.Active.Import.Register", "Energy.Reactive.Export.Register",
              "Energy.Reactive.Import.Register", "Energy.Active.Export.Interval", "Energy.Active.Import.Interval",
              "Energy.Reactive.Export.Interval", "Energy.Reactive.Import.Interval", "Frequency",
              "Power.Active.Export", "Power.Active.Import", "Power.Factor", "Power.Offered",
              "Power.Reactive.Export", "Power.Reactive.Import", "SoC", "Voltage")
MEASURAND_DEFAULT = "Energy.Active.Import.Register"  # 1.6 and 2.0.1 agree on the default

# 1.6 UnitOfMeasure -> 2.0.1 unitOfMeasure (unit, multiplier): kilo-units become the base unit
# with multiplier 3, so the CSMS reads one unit per measurand whatever the charger sends
UNITS = {
    "Wh": ("Wh", 0), "kWh": ("Wh", 3), "varh": ("varh", 0), "kvarh": ("varh", 3), "W": ("W", 0),
    "kW": ("W", 3), "VA": ("VA", 0), "kVA": ("VA", 3), "var": ("var", 0), "kvar": ("var", 3),
    "A": ("A", 0), "V": ("V", 0), "Celsius": ("Celsius", 0), "Fahrenheit": ("Fahrenheit", 0),
    "K": ("K", 0), "Percent": ("Percent", 0),
}

# 1.6 ReadingContext, Phase and Location values are the 2.0.1 ones, name for name.
CONTEXTS = ("Interruption.Begin", "Interruption.End", "Other", "Sample.Clock", "Sample.Periodic",
            "Transaction.Begin", "Transaction.End", "Trigger")
PHASES = ("L1", "L2", "L3", "N", "L1-N", "L2-N", "L3-N", "L1-L2", "L2-L3", "L3-L1")
LOCATIONS = ("Body", "Cable", "EV", "Inlet", "Outlet")

# 1.6 CALL from a charger -> what the gateway does with it (the Central System's answer is
# always local, immediate and within the charger's timeout):
#   "local"  answered by the gateway alone, nothing upstream
#   "up"     answered locally, translated upstream through PROTOCOL_B
#   "ask"    forwarded upstream and answered with the CSMS's answer (local decision after
#            auth_wait_ms or at once when the CSMS is unreachable)
#   "no"     not translatable: CALLERROR NotSupported, logged
FROM_CHARGER = {
    "BootNotification": ("local", "Accepted with the gateway's clock and heartbeat_s; the upstream station "
                                   "is the gateway, the charger's vendor/model are shown in the summary"),
    "Heartbeat": ("local", "currentTime from the gateway's clock"),
    "StatusNotification": ("up", "StatusNotification of the charger's EVSE (STATUS table); in a transaction a "
                                 "change of chargingState is also a TransactionEvent Updated "
                                 "(ChargingStateChanged); Available on a connector with a reservation passed on "
                                 "is also a ReservationStatusUpdate (Expired after its expiry, else Removed); "
                                 "connectorId 0 is kept local"),
    "Authorize": ("ask", "Authorize {idToken, type id_token_type} -> idTagInfo (AUTH_STATUS table); "
                         "cached for offline use"),
    "StartTransaction": ("up", "TransactionEvent Started (seqNo 0, Authorized, Transaction.Begin meter value); "
                               "transactionId is the gateway's integer, the 2.0.1 id <charger>-<n>"),
    "MeterValues": ("up", "in a transaction: TransactionEvent Updated MeterValuePeriodic; otherwise MeterValues "
                          "of the EVSE; sampled values through the MEASURANDS/UNITS tables"),
    "StopTransaction": ("up", "TransactionEvent Ended (STOP_REASON table), meterStop as Transaction.End, "
                              "transactionData appended"),
    "DataTransfer": ("ask", "DataTransfer upstream with vendorId/messageId/data, answered with the CSMS's status and "
                            "data; Rejected when the CSMS cannot be asked"),
    "DiagnosticsStatusNotification": ("local", "answered; 1.6 diagnostics upload has no 2.0.1 counterpart here"),
    "FirmwareStatusNotification": ("local", "answered; firmware updates of chargers are not bridged"),
}
