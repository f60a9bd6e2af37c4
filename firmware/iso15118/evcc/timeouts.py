# EVCC timers, milliseconds. Per-request V2G_EVCC_Msg_Timeout (time from sending a request to the
# whole response): DIN SPEC 70121 Table 75, ISO 15118-2 Table 109. Sequence timers: DIN 70121
# Table 76/77, ISO 15118-2 Tables 109 (sequence performance, ongoing) and 111 (setup, cable check,
# pre-charge). A session that exceeds any of them ends "SequenceTimeout"
# with the timer's name in the detail.
from micropython import const

SUPPORTED_APP_PROTOCOL_MS = const(2000)

DIN_MSG_MS = {
    "SessionSetupReq": 2000,
    "ServiceDiscoveryReq": 2000,
    "ServicePaymentSelectionReq": 2000,
    "ContractAuthenticationReq": 2000,
    "ChargeParameterDiscoveryReq": 2000,
    "CableCheckReq": 2000,
    "PreChargeReq": 2000,
    "PowerDeliveryReq": 2000,
    "CurrentDemandReq": 250,
    "WeldingDetectionReq": 2000,
    "SessionStopReq": 2000,
}

ISO2_MSG_MS = {
    "SessionSetupReq": 2000,
    "ServiceDiscoveryReq": 2000,
    "ServiceDetailReq": 5000,
    "PaymentServiceSelectionReq": 2000,
    "PaymentDetailsReq": 5000,
    "CertificateInstallationReq": 5000,
    "CertificateUpdateReq": 5000,
    "AuthorizationReq": 2000,
    "ChargeParameterDiscoveryReq": 2000,
    "PowerDeliveryReq": 5000,
    "ChargingStatusReq": 2000,
    "MeteringReceiptReq": 2000,
    "CableCheckReq": 2000,
    "PreChargeReq": 2000,
    "CurrentDemandReq": 250,
    "WeldingDetectionReq": 2000,
    "SessionStopReq": 2000,
}

# From the start of SDP (connection setup) until SessionSetupRes.
COMMUNICATION_SETUP_MS = const(20000)      # V2G_EVCC_CommunicationSetup_Timeout
# Repeating a request while the SECC answers EVSEProcessing=Ongoing (ContractAuthentication /
# Authorization, ChargeParameterDiscovery).
ONGOING_MS = const(60000)                  # V2G_EVCC_Ongoing_Timeout
CABLE_CHECK_MS = const(40000)              # V2G_EVCC_CableCheck_Timeout
PRE_CHARGE_MS = const(7000)                # V2G_EVCC_PreCharge_Timeout
# DIN: from ChargeParameterDiscoveryRes(Finished) to PowerDeliveryReq(ReadyToChargeState=true).
READY_TO_CHARGE_MS = const(150000)         # V2G_EVCC_ReadyToCharge_Timeout
# The EV's own pause between a response and its next request never exceeds this (the charge-loop
# pacing is clamped to it), so the SECC's 60 s V2G_SECC_Sequence_Timeout is never provoked by us
# ([V2G2-485]: the next request within it after a response).
SEQUENCE_PERFORMANCE_MS = const(40000)     # V2G_EVCC_Sequence_Performance_Time

# ISO 15118-20: V2G_EVCC_Msg_Timeout per request (Table 218, as the iso15118 package's
# shared/messages/iso15118_20/timeouts.py has them); here beside DIN's and -2's because the -20
# common, DC and AC state modules (iso20*.py) all use them.
ISO20_MSG_MS = {
    "SessionSetupReq": 2000,
    "AuthorizationSetupReq": 2000,
    "AuthorizationReq": 2000,
    "ServiceDiscoveryReq": 2000,
    "ServiceDetailReq": 5000,
    "ServiceSelectionReq": 2000,
    "DC_ChargeParameterDiscoveryReq": 2000,
    "AC_ChargeParameterDiscoveryReq": 2000,
    "ScheduleExchangeReq": 2000,
    "DC_CableCheckReq": 2000,
    "DC_PreChargeReq": 2000,
    "PowerDeliveryReq": 2000,
    "DC_ChargeLoopReq": 500,
    "AC_ChargeLoopReq": 500,
    "DC_WeldingDetectionReq": 2000,
    "SessionStopReq": 2000,
}
# -20 sequence timers (Table 219) as a state's `timers` names them: Ongoing (EVSEProcessing=Ongoing
# repeats, welding detection) and CableCheck as -2's, PreCharge 10 s. CommunicationSetup (until
# SessionSetupRes) runs in the Exchange.
ISO20_ONGOING = (("V2G_EVCC_Ongoing_Timeout", ONGOING_MS),)
ISO20_CABLE_CHECK = (("V2G_EVCC_CableCheck_Timeout", CABLE_CHECK_MS),)
ISO20_PRE_CHARGE = (("V2G_EVCC_PreCharge_Timeout", 10000),)
# V2G_EVCC_Sequence_Performance_Time (Tables 216/217): a -20 charge-loop response received -> the next
# request sent within 250 ms (the SECC's V2G_SECC_Sequence_Timeout there is 500 ms). The EV's pacing
# in the charge loop is capped below it, leaving room to build, encode and send the request.
ISO20_CL_SEQUENCE_PERFORMANCE_MS = const(250)
ISO20_CL_PACE_MAX_MS = const(200)
