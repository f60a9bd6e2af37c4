# What SECC and EVCC sessions share besides the value types (values.py) and -20's basics (v20.py):
# the V2GTP payload type of SAP, DIN and -2 messages, and how a session ended. Both roles report an
# end with these strings (SessionResult.end / EvccResult.end), which the summaries and tests compare
# across roles, so they live here once.

PT_EXI = 0x8001   # V2GTP payload type of supportedAppProtocol, DIN and -2 messages (V2G_Message)

END_STOP = "SessionStop"            # clean: SessionStopRes OK (SECC: sent, EVCC: received)
END_FAILED = "Failed"               # a FAILED response (SECC: sent and closed, EVCC: received), no
                                    # protocol agreed, or the EV gave up
END_TIMEOUT = "SequenceTimeout"     # a message timeout or a sequence timer (detail names which)
END_SETUP_TIMEOUT = "CommunicationSetupTimeout"   # SECC: no SessionSetupReq within the setup time
END_CLOSED = "PeerClosed"
END_MALFORMED = "Malformed"         # undecodable EXI or V2GTP framing, wrong payload type, or (EVCC) an
                                    # unexpected response
