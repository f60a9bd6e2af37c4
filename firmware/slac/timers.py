# ISO 15118-3 timers and counters (Table A.1 "SLAC timing and constants"; ms). The value we use, then
# the standard's bounds: a test checks every value against its bounds, docs/slac.md lists them.
from micropython import const

TT_EVSE_SLAC_INIT = const(50000)       # EVSE: CP B + 5 % until CM_SLAC_PARM.REQ (20-50 s)
TT_MATCH_SEQUENCE = const(400)         # EV: CM_SLAC_PARM.REQ until .CNF (max 400)
TT_MATCH_RESPONSE = const(200)         # request until response on both sides (max 200)
TT_EVSE_MATCH_MNBC = const(600)        # EVSE: sounds window after CM_START_ATTEN_CHAR.IND (600)
TT_EV_ATTEN_RESULTS = const(1200)      # EV: first CM_START_ATTEN_CHAR.IND until results chosen (max 1200)
TT_EVSE_MATCH_SESSION = const(10000)   # EVSE: CM_ATTEN_CHAR.RSP until CM_SLAC_MATCH.REQ (10 s)
TT_MATCH_JOIN = const(12000)           # both: CM_SLAC_MATCH.CNF until the link is up (max 12 s)
TP_EV_BATCH_MSG_INTERVAL = const(25)   # EV: between CM_START_ATTEN_CHAR / CM_MNBC_SOUND (20-50; 25: jitter margin)
TT_MATCHING_REPETITION = const(10000)  # EV: whole matching retried within (10 s)
T_STEP_EF = const(4000)                # EVSE: E/F before a restart of matching (min 4 s)
C_EV_MATCH_RETRY = const(2)            # retransmissions of a request without answer (2)
C_EV_START_ATTEN_CHAR_INDS = const(3)  # CM_START_ATTEN_CHAR.IND sent (3)
C_EV_MATCH_MNBC = const(10)            # CM_MNBC_SOUND.IND sent (10)

# name, value, min, max (for the bounds test and docs)
TABLE = (
    ("TT_EVSE_SLAC_init", TT_EVSE_SLAC_INIT, 20000, 50000),
    ("TT_match_sequence", TT_MATCH_SEQUENCE, 0, 400),
    ("TT_match_response", TT_MATCH_RESPONSE, 0, 200),
    ("TT_EVSE_match_MNBC", TT_EVSE_MATCH_MNBC, 600, 600),
    ("TT_EV_atten_results", TT_EV_ATTEN_RESULTS, 0, 1200),
    ("TT_EVSE_match_session", TT_EVSE_MATCH_SESSION, 10000, 10000),
    ("TT_match_join", TT_MATCH_JOIN, 0, 12000),
    ("TP_EV_batch_msg_interval", TP_EV_BATCH_MSG_INTERVAL, 20, 50),
    ("TT_matching_repetition", TT_MATCHING_REPETITION, 10000, 10000),
    ("T_step_EF", T_STEP_EF, 4000, 60000),
    ("C_EV_match_retry", C_EV_MATCH_RETRY, 2, 2),
    ("C_EV_start_atten_char_inds", C_EV_START_ATTEN_CHAR_INDS, 3, 3),
    ("C_EV_match_MNBC", C_EV_MATCH_MNBC, 10, 10),
)
