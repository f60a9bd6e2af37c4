# EVCC session logic (the EV side, EK-ADAPT-CCS facing a third-party charger): supportedAppProtocol
# request by the EV's priorities, then one state machine per protocol with the standard's message and
# sequence timeouts. Works on decoded EXI documents; codec (firmware/exi) and transport
# (iso15118.transport) stay outside. See docs/iso15118_evcc.md.
