# SECC session logic (spec §6): supportedAppProtocol negotiation and one state machine per protocol,
# one class per state. Works on decoded EXI documents; codec (firmware/exi) and transport
# (iso15118.transport) stay outside. See docs/iso15118_sessions.md. The ISO15118 service's own
# modules live here too, as only the SECC uses them: service_config.py (<fs>/iso15118.json) and
# session_msg.py (its IPC payloads), see docs/iso15118_service.md.
