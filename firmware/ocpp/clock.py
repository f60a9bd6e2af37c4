# OCPP timestamps (RFC 3339, UTC). The station clock is the board RTC, set
# from the CSMS's currentTime (BootNotification / Heartbeat) when ClockCtrlr
# TimeSource is Heartbeat: `offset` is CSMS time minus local time, seconds.
import time

EPOCH_2000 = 946684800
offset = 0
# The RTC's seconds (time.time). A simulation in virtual time replaces it with its simulated RTC
# (boards/unix board.rtc_seconds), so that timestamps, TxUpdatedInterval and the once-a-second
# transaction work follow the simulated time the energy and power are measured in.
source = time.time


def _epoch_base():
    # time.time() counts from 1970 on unix, from 2000 on bare-metal ports.
    return EPOCH_2000 if time.gmtime(0)[0] == 2000 else 0


def now():
    # Unix seconds, corrected by the CSMS offset.
    return source() + _epoch_base() + offset


def iso(t=None):
    t = now() if t is None else t
    g = time.gmtime(int(t) - _epoch_base())
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % g[:6]


def parse(s):
    # Unix seconds of an RFC 3339 timestamp (fractions dropped; offsets honoured).
    if not isinstance(s, str) or len(s) < 19 or s[4] != "-" or s[10] not in "Tt":
        raise ValueError("bad timestamp")
    y, mo, d = int(s[0:4]), int(s[5:7]), int(s[8:10])
    h, mi, se = int(s[11:13]), int(s[14:16]), int(s[17:19])
    rest = s[19:]
    if rest.startswith("."):
        i = 1
        while i < len(rest) and rest[i].isdigit():
            i += 1
        rest = rest[i:]
    off = 0
    if rest and rest[0] in "+-":
        off = (int(rest[1:3]) * 3600 + int(rest[4:6]) * 60) * (1 if rest[0] == "+" else -1)
    elif rest not in ("Z", "z", ""):
        raise ValueError("bad timestamp")
    t = time.mktime((y, mo, d, h, mi, se, 0, 0)) + _epoch_base()
    return t - off


def sync(csms_iso):
    global offset
    try:
        offset = parse(csms_iso) - (source() + _epoch_base())
    except ValueError:
        pass
