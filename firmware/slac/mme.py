# HomePlug AV / Green PHY management messages (MMEs) for ISO 15118-3 SLAC: EtherType 0x88E1, the
# CM_* messages of ISO 15118-3 Annex A (MMV 1, little-endian multi-byte fields, 5-byte MM header with
# the fragmentation field FMI) and the few Qualcomm vendor messages a QCA7000/7005 modem needs
# (MMV 0, 3-byte header, OUI 00:B0:52). One codec for the EVSE and the EV role; no sockets here.
#
# Receive path: parse(rx, buf, n) checks a frame in place and fills the preallocated Rx with the
# message type and offsets; it allocates nothing and never raises: a bad frame returns a negative
# E_* code and is counted in rx.errors (the caller drops that one frame). Field accessors read
# straight from the buffer. Send path: build_*(tx, ...) write a whole frame into a bytearray and
# return its length (padded to the 60-byte Ethernet minimum, as a real NIC would put it on the wire).
from micropython import const

ETHERTYPE = const(0x88E1)
ETH_HDR = const(14)
MIN_FRAME = const(60)       # Ethernet minimum without FCS: shorter frames are padded with zeros
MAX_FRAME = const(1514)
BODY1 = const(19)           # MMV 1: 14 Ethernet + MMV(1) MMTYPE(2) FMI(2)
BODY0 = const(17)           # MMV 0 (vendor): 14 Ethernet + MMV(1) MMTYPE(2)
VS_BODY = const(20)         # vendor body after the OUI

# MMTYPE = base | kind
REQ = const(0)
CNF = const(1)
IND = const(2)
RSP = const(3)
CM_SET_KEY = const(0x6008)
CM_AMP_MAP = const(0x601C)
CM_SLAC_PARM = const(0x6064)
CM_START_ATTEN_CHAR = const(0x6068)
CM_ATTEN_CHAR = const(0x606C)
CM_MNBC_SOUND = const(0x6074)
CM_VALIDATE = const(0x6078)
CM_SLAC_MATCH = const(0x607C)
CM_ATTEN_PROFILE = const(0x6084)
# Qualcomm Atheros vendor-specific (MMV 0)
VS_SW_VER = const(0xA000)
VS_NW_INFO = const(0xA038)
QCA_OUI = b"\x00\xb0\x52"

RUN_ID_LEN = const(8)
NID_LEN = const(7)
NMK_LEN = const(16)
GROUPS = const(58)          # OFDM carrier groups of Green PHY: ATTEN_PROFILE length
APP_PEV_EVSE = const(0)     # APPLICATION_TYPE "PEV-EVSE matching"
SEC_NONE = const(0)         # SECURITY_TYPE "no security" (ISO 15118-3 uses no other)
RESP_OTHER_GP = const(1)    # RESP_TYPE: results go to the HLE given as FORWARDING_STA
MATCH_REQ_MVF = const(0x3E)
MATCH_CNF_MVF = const(0x56)
BROADCAST = b"\xff\xff\xff\xff\xff\xff"
# CM_VALIDATE result (ISO 15118-3 Table A.6)
VALIDATE_NOT_READY = const(0)
VALIDATE_READY = const(1)
VALIDATE_SUCCESS = const(2)
VALIDATE_FAILURE = const(3)
VALIDATE_NOT_REQUIRED = const(4)

# payload offsets (from the body start)
# CM_SLAC_PARM.REQ: app 0, sec 1, run_id 2
# CM_SLAC_PARM.CNF
PC_TARGET = const(0)
PC_SOUNDS = const(6)
PC_TIME_OUT = const(7)
PC_RESP = const(8)
PC_FWD = const(9)
PC_RUN = const(17)
# CM_START_ATTEN_CHAR.IND
SA_SOUNDS = const(2)
SA_TIME_OUT = const(3)
SA_RESP = const(4)
SA_FWD = const(5)
SA_RUN = const(11)
# CM_MNBC_SOUND.IND
MS_CNT = const(19)
MS_RUN = const(20)
# CM_ATTEN_PROFILE.IND
AP_PEV = const(0)
AP_GROUPS = const(6)
AP_AAG = const(8)
# CM_ATTEN_CHAR.IND / .RSP
AC_SRC = const(2)
AC_RUN = const(8)
AC_SOUNDS = const(50)
AC_GROUPS = const(51)
AC_AAG = const(52)
AR_RESULT = const(50)
# CM_VALIDATE.REQ/.CNF
VA_SIGNAL = const(0)
VA_TIMER = const(1)        # REQ: timer; CNF: toggle count
VA_RESULT = const(2)
# CM_SLAC_MATCH.REQ/.CNF
SM_MVF = const(2)
SM_PEV_MAC = const(21)
SM_EVSE_MAC = const(44)
SM_RUN = const(50)
SM_NID = const(66)
SM_NMK = const(74)
# CM_SET_KEY.REQ / .CNF
SK_NID = const(14)
SK_KEY = const(22)
SK_RESULT = const(0)
# vendor VS_SW_VER.CNF (after the OUI): status, device id, version length, version
SW_STATUS = const(0)
SW_DEVICE = const(1)
SW_VLEN = const(2)
SW_VER = const(3)
# vendor VS_NW_INFO.CNF (after the OUI, MMV 0 layout): networks, then per network 18 bytes + 15 per station
NW_COUNT = const(0)

# errors (index into Rx.errors)
E_SHORT = const(0)         # shorter than the headers, or than the message's fixed part
E_ETHERTYPE = const(1)     # not 0x88E1 (a raw socket filter lets it through on some stacks)
E_MMV = const(2)           # MMV not 0/1
E_FRAGMENT = const(3)      # fragmented MME: none of the SLAC messages needs fragmentation
E_UNKNOWN = const(4)       # MMTYPE we do not handle (counted, not an attack: other PLC traffic)
E_FIELD = const(5)         # a fixed field has a value the standard does not allow
E_LENGTH = const(6)        # a length field inside the message disagrees with the frame
E_OVERSIZE = const(7)      # longer than an Ethernet frame
N_ERRORS = const(8)
ERROR_NAMES = ("short", "ethertype", "mmv", "fragmented", "unknown_mmtype", "field", "length", "oversize")

# fixed payload length per MMTYPE (MMV 1); variable messages are checked further in _check
_FIXED = {
    CM_SLAC_PARM | REQ: 10, CM_SLAC_PARM | CNF: 25, CM_START_ATTEN_CHAR | IND: 19,
    CM_MNBC_SOUND | IND: 52, CM_ATTEN_PROFILE | IND: AP_AAG + 1, CM_ATTEN_CHAR | IND: AC_AAG + 1,
    CM_ATTEN_CHAR | RSP: 51, CM_VALIDATE | REQ: 3, CM_VALIDATE | CNF: 3, CM_SLAC_MATCH | REQ: 66,
    CM_SLAC_MATCH | CNF: 90, CM_SET_KEY | REQ: 38, CM_SET_KEY | CNF: 14, CM_AMP_MAP | REQ: 2,
    CM_AMP_MAP | CNF: 1,
}
_VENDOR = {VS_SW_VER | REQ: 0, VS_SW_VER | CNF: SW_VER, VS_NW_INFO | REQ: 0, VS_NW_INFO | CNF: 1}
# messages whose first two bytes are APPLICATION_TYPE, SECURITY_TYPE
_APP_SEC = (CM_SLAC_PARM | REQ, CM_START_ATTEN_CHAR | IND, CM_MNBC_SOUND | IND, CM_ATTEN_CHAR | IND,
            CM_ATTEN_CHAR | RSP, CM_SLAC_MATCH | REQ, CM_SLAC_MATCH | CNF)


class Rx:
    # One received frame, checked: the buffer is the caller's and stays valid until its next receive.
    def __init__(self):
        self.buf = b""
        self.n = 0
        self.mmtype = -1
        self.body = 0          # offset of the MME payload (after the OUI for vendor messages)
        self.frames = 0
        self.errors = [0] * N_ERRORS
        self.last_error = -1

    def u8(self, off):
        return self.buf[self.body + off]

    def u16le(self, off):
        b = self.buf
        o = self.body + off
        return b[o] | (b[o + 1] << 8)

    def eq(self, off, ref, n):
        # buffer bytes at body+off equal ref[0:n] (no slice: nothing allocated)
        b = self.buf
        o = self.body + off
        for i in range(n):
            if b[o + i] != ref[i]:
                return False
        return True

    def src_is(self, mac):
        b = self.buf
        for i in range(6):
            if b[6 + i] != mac[i]:
                return False
        return True

    def to_us(self, mac):
        # unicast to mac or broadcast
        b = self.buf
        bc = True
        me = True
        for i in range(6):
            if b[i] != 0xFF:
                bc = False
            if b[i] != mac[i]:
                me = False
        return bc or me

    def copy(self, off, dst, n, dst_off=0):
        # n payload bytes into a preallocated bytearray
        b = self.buf
        o = self.body + off
        for i in range(n):
            dst[dst_off + i] = b[o + i]

    def copy_src(self, dst):
        b = self.buf
        for i in range(6):
            dst[i] = b[6 + i]

    def error_counts(self):
        return {ERROR_NAMES[i]: self.errors[i] for i in range(N_ERRORS) if self.errors[i]}


def _fail(rx, code):
    rx.errors[code] += 1
    rx.last_error = code
    rx.mmtype = -1
    return -1 - code


def parse(rx, buf, n):
    # -> MMTYPE (>= 0) of a well-formed frame in buf[0:n], or -1 - E_* (counted in rx.errors)
    rx.buf = buf
    rx.n = n
    rx.frames += 1
    if n > MAX_FRAME:
        return _fail(rx, E_OVERSIZE)
    if n < ETH_HDR + 3:
        return _fail(rx, E_SHORT)
    if (buf[12] << 8) | buf[13] != ETHERTYPE:
        return _fail(rx, E_ETHERTYPE)
    mmv = buf[14]
    mmtype = buf[15] | (buf[16] << 8)
    if mmv == 1:
        if n < BODY1:
            return _fail(rx, E_SHORT)
        if buf[17] or buf[18]:
            return _fail(rx, E_FRAGMENT)
        need = _FIXED.get(mmtype, -1)
        if need < 0:
            return _fail(rx, E_UNKNOWN)
        rx.body = BODY1
    elif mmv == 0:
        need = _VENDOR.get(mmtype, -1)
        if need < 0:
            return _fail(rx, E_UNKNOWN)
        if n < VS_BODY:
            return _fail(rx, E_SHORT)
        if buf[17] != 0x00 or buf[18] != 0xB0 or buf[19] != 0x52:
            return _fail(rx, E_FIELD)
        rx.body = VS_BODY
    else:
        return _fail(rx, E_MMV)
    if n - rx.body < need:
        return _fail(rx, E_SHORT)
    rx.mmtype = mmtype
    e = _check(rx, mmtype, n - rx.body)
    if e >= 0:
        return _fail(rx, e)
    return mmtype


def _check_groups(rx, groups_at, aag_at, avail):
    # the attenuation-group count of an ATTEN_PROFILE / ATTEN_CHAR and that its groups are all there
    g = rx.u8(groups_at)
    if g == 0 or g > GROUPS:
        return E_FIELD
    if avail < aag_at + g:
        return E_LENGTH
    return -1


def _check(rx, t, avail):
    # -> -1 when the fields are valid, else the E_* code
    if t in _APP_SEC and (rx.u8(0) != APP_PEV_EVSE or rx.u8(1) != SEC_NONE):
        return E_FIELD
    if t == CM_ATTEN_PROFILE | IND:
        return _check_groups(rx, AP_GROUPS, AP_AAG, avail)
    elif t == CM_ATTEN_CHAR | IND:
        return _check_groups(rx, AC_GROUPS, AC_AAG, avail)
    elif t == CM_START_ATTEN_CHAR | IND:
        if rx.u8(SA_RESP) != RESP_OTHER_GP or rx.u8(SA_SOUNDS) == 0:
            return E_FIELD
    elif t == CM_SLAC_PARM | CNF:
        if rx.u8(PC_RESP) != RESP_OTHER_GP or rx.u8(PC_SOUNDS) == 0 or rx.u8(PC_SOUNDS + 9) != APP_PEV_EVSE \
                or rx.u8(PC_SOUNDS + 10) != SEC_NONE:
            return E_FIELD
    elif t == CM_SLAC_MATCH | REQ:
        if rx.u16le(SM_MVF) != MATCH_REQ_MVF:
            return E_LENGTH
    elif t == CM_SLAC_MATCH | CNF:
        if rx.u16le(SM_MVF) != MATCH_CNF_MVF:
            return E_LENGTH
    elif t == CM_VALIDATE | REQ or t == CM_VALIDATE | CNF:
        if rx.u8(VA_SIGNAL) != 0 or rx.u8(VA_RESULT) > VALIDATE_NOT_REQUIRED:
            return E_FIELD
    elif t == CM_AMP_MAP | REQ:
        if avail < 2 + (rx.u16le(0) + 1) // 2:
            return E_LENGTH
    elif t == VS_SW_VER | CNF:
        if avail < SW_VER + rx.u8(SW_VLEN):
            return E_LENGTH
    elif t == VS_NW_INFO | CNF:
        if avail < 1 + rx.u8(NW_COUNT) * 18:
            return E_LENGTH
    return -1


def average(rx, off, groups):
    # mean of `groups` attenuation bytes at payload offset off, in dB (integer, rounded)
    b = rx.buf
    o = rx.body + off
    s = 0
    for i in range(groups):
        s += b[o + i]
    return (s + groups // 2) // groups


# --- send path -------------------------------------------------------------------------------------
def _head(tx, dst, src, mmtype, mmv=1):
    tx[0:6] = dst
    tx[6:12] = src
    tx[12] = ETHERTYPE >> 8
    tx[13] = ETHERTYPE & 0xFF
    tx[14] = mmv
    tx[15] = mmtype & 0xFF
    tx[16] = mmtype >> 8
    if mmv == 0:
        tx[17:20] = QCA_OUI
        return VS_BODY
    tx[17] = 0
    tx[18] = 0
    return BODY1


def _app(tx, b):
    tx[b] = APP_PEV_EVSE
    tx[b + 1] = SEC_NONE


def _end(tx, n):
    # zero padding up to the Ethernet minimum
    for i in range(n, MIN_FRAME):
        tx[i] = 0
    return n if n > MIN_FRAME else MIN_FRAME


def _zero(tx, o, n):
    for i in range(o, o + n):
        tx[i] = 0


def build_slac_parm_req(tx, src, run_id):
    b = _head(tx, BROADCAST, src, CM_SLAC_PARM | REQ)
    _app(tx, b)
    tx[b + 2:b + 10] = run_id
    return _end(tx, b + 10)


def build_slac_parm_cnf(tx, src, ev_mac, run_id, sounds, time_out_100ms):
    b = _head(tx, ev_mac, src, CM_SLAC_PARM | CNF)
    tx[b:b + 6] = BROADCAST            # M-SOUND_TARGET: sounds go out as broadcast
    tx[b + PC_SOUNDS] = sounds
    tx[b + PC_TIME_OUT] = time_out_100ms
    tx[b + PC_RESP] = RESP_OTHER_GP
    tx[b + PC_FWD:b + PC_FWD + 6] = ev_mac
    tx[b + 15] = APP_PEV_EVSE
    tx[b + 16] = SEC_NONE
    tx[b + PC_RUN:b + PC_RUN + 8] = run_id
    return _end(tx, b + 25)


def build_start_atten_char(tx, src, run_id, sounds, time_out_100ms):
    b = _head(tx, BROADCAST, src, CM_START_ATTEN_CHAR | IND)
    _app(tx, b)
    tx[b + SA_SOUNDS] = sounds
    tx[b + SA_TIME_OUT] = time_out_100ms
    tx[b + SA_RESP] = RESP_OTHER_GP
    tx[b + SA_FWD:b + SA_FWD + 6] = src
    tx[b + SA_RUN:b + SA_RUN + 8] = run_id
    return _end(tx, b + 19)


def build_mnbc_sound(tx, src, run_id, remaining, rnd):
    b = _head(tx, BROADCAST, src, CM_MNBC_SOUND | IND)
    _app(tx, b)
    _zero(tx, b + 2, 17)               # SenderID: ISO 15118-3 sends zeros
    tx[b + MS_CNT] = remaining
    tx[b + MS_RUN:b + MS_RUN + 8] = run_id
    _zero(tx, b + 28, 8)
    tx[b + 36:b + 52] = rnd
    return _end(tx, b + 52)


def build_atten_profile(tx, src, dst, ev_mac, aag, groups=GROUPS):
    # what an EVSE's modem sends its host for each sound it heard (the simulated modem uses it)
    b = _head(tx, dst, src, CM_ATTEN_PROFILE | IND)
    tx[b:b + 6] = ev_mac
    tx[b + AP_GROUPS] = groups
    tx[b + 7] = 0
    for i in range(groups):
        tx[b + AP_AAG + i] = aag[i]
    return _end(tx, b + AP_AAG + groups)


def build_atten_char_ind(tx, src, ev_mac, run_id, sounds, aag, groups=GROUPS):
    b = _head(tx, ev_mac, src, CM_ATTEN_CHAR | IND)
    _app(tx, b)
    tx[b + AC_SRC:b + AC_SRC + 6] = ev_mac
    tx[b + AC_RUN:b + AC_RUN + 8] = run_id
    _zero(tx, b + 16, 34)              # SOURCE_ID, RESP_ID: zeros in ISO 15118-3
    tx[b + AC_SOUNDS] = sounds
    tx[b + AC_GROUPS] = groups
    for i in range(groups):
        tx[b + AC_AAG + i] = aag[i]
    return _end(tx, b + AC_AAG + groups)


def build_atten_char_rsp(tx, src, evse_mac, run_id, result=0):
    b = _head(tx, evse_mac, src, CM_ATTEN_CHAR | RSP)
    _app(tx, b)
    tx[b + AC_SRC:b + AC_SRC + 6] = src
    tx[b + AC_RUN:b + AC_RUN + 8] = run_id
    _zero(tx, b + 16, 34)
    tx[b + AR_RESULT] = result
    return _end(tx, b + 51)


def build_validate(tx, src, dst, kind, timer_or_toggles, result):
    b = _head(tx, dst, src, CM_VALIDATE | kind)
    tx[b + VA_SIGNAL] = 0
    tx[b + VA_TIMER] = timer_or_toggles
    tx[b + VA_RESULT] = result
    return _end(tx, b + 3)


def _match_common(tx, b, mvf, ev_mac, evse_mac, run_id):
    _app(tx, b)
    tx[b + SM_MVF] = mvf
    tx[b + SM_MVF + 1] = 0
    _zero(tx, b + 4, 17)               # PEV ID
    tx[b + SM_PEV_MAC:b + SM_PEV_MAC + 6] = ev_mac
    _zero(tx, b + 27, 17)              # EVSE ID
    tx[b + SM_EVSE_MAC:b + SM_EVSE_MAC + 6] = evse_mac
    tx[b + SM_RUN:b + SM_RUN + 8] = run_id
    _zero(tx, b + 58, 8)


def build_match_req(tx, ev_mac, evse_mac, run_id):
    b = _head(tx, evse_mac, ev_mac, CM_SLAC_MATCH | REQ)
    _match_common(tx, b, MATCH_REQ_MVF, ev_mac, evse_mac, run_id)
    return _end(tx, b + 66)


def build_match_cnf(tx, evse_mac, ev_mac, run_id, nid, nmk):
    b = _head(tx, ev_mac, evse_mac, CM_SLAC_MATCH | CNF)
    _match_common(tx, b, MATCH_CNF_MVF, ev_mac, evse_mac, run_id)
    tx[b + SM_NID:b + SM_NID + 7] = nid
    tx[b + SM_NID + 7] = 0
    tx[b + SM_NMK:b + SM_NMK + 16] = nmk
    return _end(tx, b + 90)


def build_set_key_req(tx, src, modem_mac, nid, nmk, nonce):
    # ISO 15118-3 Table A.8: NMK key type, PID 4 (HLE protocol), PRN/PMN 0, CCo capability 0, EKS 1
    b = _head(tx, modem_mac, src, CM_SET_KEY | REQ)
    tx[b] = 1
    tx[b + 1:b + 5] = nonce
    _zero(tx, b + 5, 4)
    tx[b + 9] = 4
    _zero(tx, b + 10, 4)
    tx[b + SK_NID:b + SK_NID + 7] = nid
    tx[b + 21] = 1
    tx[b + SK_KEY:b + SK_KEY + 16] = nmk
    return _end(tx, b + 38)


def build_set_key_cnf(tx, modem_mac, dst, result, nonce):
    # what a modem answers (the simulated modem): result 0 success
    b = _head(tx, dst, modem_mac, CM_SET_KEY | CNF)
    tx[b] = result
    _zero(tx, b + 1, 4)
    tx[b + 5:b + 9] = nonce
    tx[b + 9] = 4
    _zero(tx, b + 10, 4)
    return _end(tx, b + 14)


def build_amp_map_cnf(tx, src, dst, result=0):
    b = _head(tx, dst, src, CM_AMP_MAP | CNF)
    tx[b] = result
    return _end(tx, b + 1)


def build_vs_req(tx, src, modem_mac, base):
    # VS_SW_VER.REQ / VS_NW_INFO.REQ: the OUI is the whole body
    b = _head(tx, modem_mac, src, base | REQ, 0)
    return _end(tx, b)


def nid_from_nmk(nmk):
    # HomePlug AV 4.4.3.1 as Qualcomm's open-plc-utils implements it (HPAVKeyNID, security level 0):
    # SHA-256 applied 5 times, 7 bytes kept, the last byte's 4 MSB shifted down (2 MSB of the NID 0).
    import hashlib
    d = bytes(nmk)
    for _ in range(5):
        d = hashlib.sha256(d).digest()
    return d[:6] + bytes((d[6] >> 4,))


def mmtype_name(t):
    for name, base in (("CM_SET_KEY", CM_SET_KEY), ("CM_AMP_MAP", CM_AMP_MAP), ("CM_SLAC_PARM", CM_SLAC_PARM),
                       ("CM_START_ATTEN_CHAR", CM_START_ATTEN_CHAR), ("CM_ATTEN_CHAR", CM_ATTEN_CHAR),
                       ("CM_MNBC_SOUND", CM_MNBC_SOUND), ("CM_VALIDATE", CM_VALIDATE),
                       ("CM_SLAC_MATCH", CM_SLAC_MATCH), ("CM_ATTEN_PROFILE", CM_ATTEN_PROFILE),
                       ("VS_SW_VER", VS_SW_VER), ("VS_NW_INFO", VS_NW_INFO)):
        if t & ~3 == base:
            return name + (".REQ", ".CNF", ".IND", ".RSP")[t & 3]
    return "0x%04X" % t
