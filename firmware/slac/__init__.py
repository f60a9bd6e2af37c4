# ISO 15118-3 SLAC (HomePlug Green PHY matching): mme.py the management-message codec, timers.py the
# standard's timers and counters, evse.py and ev.py the two roles' state machines (no sockets, no IPC),
# pilot.py the IEC 61851-1 control-pilot state machine. The SLAC service (services/slac.py) glues them
# to the board's Ethernet and pilot I/O.
