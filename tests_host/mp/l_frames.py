# SLAC codec test helper (MicroPython): one frame of every message the codec builds, for round-trip
# checks, the tshark dissector check and as fuzz seeds. -> list of (name, bytes)
from slac import mme as m

EV = b"\x02\x00\x00\x00\x00\x01"
EVSE = b"\x02\x00\x00\x00\x00\x02"
MODEM = b"\x00\xb0\x52\x00\x00\x01"
RUN = b"\x11\x22\x33\x44\x55\x66\x77\x88"
NMK = bytes(range(16))


def frames():
    tx = bytearray(m.MAX_FRAME)
    out = []

    def add(name, n):
        out.append((name, bytes(tx[:n])))
    nid = m.nid_from_nmk(NMK)
    aag = bytes((20 + i % 7) for i in range(m.GROUPS))
    add("slac_parm_req", m.build_slac_parm_req(tx, EV, RUN))
    add("slac_parm_cnf", m.build_slac_parm_cnf(tx, EVSE, EV, RUN, 10, 6))
    add("start_atten_char", m.build_start_atten_char(tx, EV, RUN, 10, 6))
    add("mnbc_sound", m.build_mnbc_sound(tx, EV, RUN, 9, bytes(range(16))))
    add("atten_profile", m.build_atten_profile(tx, MODEM, EVSE, EV, aag))
    add("atten_char_ind", m.build_atten_char_ind(tx, EVSE, EV, RUN, 10, aag))
    add("atten_char_rsp", m.build_atten_char_rsp(tx, EV, EVSE, RUN))
    add("validate_req", m.build_validate(tx, EV, EVSE, m.REQ, 0, m.VALIDATE_READY))
    add("validate_cnf", m.build_validate(tx, EVSE, EV, m.CNF, 0, m.VALIDATE_NOT_REQUIRED))
    add("match_req", m.build_match_req(tx, EV, EVSE, RUN))
    add("match_cnf", m.build_match_cnf(tx, EVSE, EV, RUN, nid, NMK))
    add("set_key_req", m.build_set_key_req(tx, EVSE, MODEM, nid, NMK, b"\xaa\xbb\xcc\xdd"))
    add("set_key_cnf", m.build_set_key_cnf(tx, MODEM, EVSE, 0, b"\xaa\xbb\xcc\xdd"))
    add("amp_map_cnf", m.build_amp_map_cnf(tx, EVSE, EV))
    add("sw_ver_req", m.build_vs_req(tx, EVSE, MODEM, m.VS_SW_VER))
    add("nw_info_req", m.build_vs_req(tx, EVSE, MODEM, m.VS_NW_INFO))
    return out
