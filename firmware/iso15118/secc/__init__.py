# SECC session logic (spec §6): supportedAppProtocol negotiation and one state machine per protocol,
# one class per state. Works on decoded EXI documents; codec (firmware/exi) and transport
# (iso15118.transport) stay outside. See docs/iso15118_sessions.md.
