# One module per OCPP operation (the MicroOcpp layout). CSMS -> station
# requests: module.handle(client, payload, msg_id) -> response payload (raises
# ocpp.rpc.RpcError for bad requests), optional module.after(client, payload,
# response) once the response is sent. Station -> CSMS requests:
# module.request(...) builds the payload, module.confirm(client, req, res, err).
INCOMING = {
    "GetVariables": "get_variables",
    "SetVariables": "set_variables",
    "GetBaseReport": "get_base_report",
    "RequestStartTransaction": "request_start_transaction",
    "RequestStopTransaction": "request_stop_transaction",
    "GetTransactionStatus": "get_transaction_status",
    "ChangeAvailability": "change_availability",
    "Reset": "reset",
    "TriggerMessage": "trigger_message",
    "UnlockConnector": "unlock_connector",
    "DataTransfer": "data_transfer",
    "SetChargingProfile": "set_charging_profile",
    "GetChargingProfiles": "get_charging_profiles",
    "ClearChargingProfile": "clear_charging_profile",
    "GetCompositeSchedule": "get_composite_schedule",
    "ReserveNow": "reserve_now",
    "CancelReservation": "cancel_reservation",
    "SendLocalList": "send_local_list",
    "GetLocalListVersion": "get_local_list_version",
}
