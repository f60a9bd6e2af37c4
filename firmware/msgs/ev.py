# The IPC message catalogue, part 3: the byte payloads between ISO15118 and
# OCPP_CLIENT (declared in msgs/catalogue.py). Packing writes into a buffer the
# caller owns and reading uses jezgro.ipc.get_i32, so neither allocates beyond
# what the caller asks for (the needs values come in and go out as a dict: that
# side runs at session set-up, not in a loop).
from micropython import const
import struct
from jezgro.ipc import get_i32

# EV_CHARGING_NEEDS (44 bytes): u8[0] evseId, u8[1] mode, u16 LE [2..3] presence flags
# (bit i: value i present; absent values are absent), i32 LE [4 + 4 i] value i:
NEEDS_DEPARTURE = const(0)  # departureTime, unix s
NEEDS_ENERGY = const(1)  # energyAmount, Wh
NEEDS_MIN_I = const(2)  # evMinCurrent, A
NEEDS_MAX_I = const(3)  # evMaxCurrent, A
NEEDS_MAX_V = const(4)  # evMaxVoltage, V
NEEDS_MAX_P = const(5)  # evMaxPower, W
NEEDS_CAPACITY = const(6)  # evEnergyCapacity, Wh
NEEDS_SOC = const(7)  # stateOfCharge, %
NEEDS_FULL_SOC = const(8)  # fullSoC, %
NEEDS_BULK_SOC = const(9)  # bulkSoC, %
N_NEEDS = const(10)
NEEDS_AC1 = const(0)  # AC_single_phase
NEEDS_AC3 = const(1)  # AC_three_phase
NEEDS_DC = const(2)
NEEDS_BYTES = const(44)

# EV_CHARGING_SCHEDULE (48 bytes): u8[0] evseId, u8[1] index of the first period here, u8[2] total
# periods (1..24), u8[3] unit (0 W, 1 A with the limit in 0.1 A), i32[4] timeBase (unix s), then up
# to 5 x (i32 startPeriod s, i32 limit; negative = discharge). The call goes out when all arrived.
SCHED_PERIODS_MAX = const(24)
SCHED_CHUNK = const(5)
SCHED_BYTES = const(48)
UNIT_W = const(0)
UNIT_DECI_A = const(1)

# ISO_CERT_REQUEST: u8[0] kind, bytes[1..] iso15118SchemaVersion (ASCII); the EXI request (or the
# OCSPRequestData JSON for STATUS) is in <fs>/iso15118_cert.req, too large for IPC.
CERT_INSTALL = const(0)
CERT_UPDATE = const(1)
CERT_STATUS = const(2)
# ISO_AUTHORIZE: u8[0] evseId, bytes[1..] the EV's contract id (eMAID, ASCII, 1..36)
EMAID_MAX = const(36)


def pack_needs(evse, mode, values):
    # values: {NEEDS_*: int} -> a new 44-byte payload
    b = bytearray(NEEDS_BYTES)
    b[0] = evse
    b[1] = mode
    flags = 0
    for i, v in values.items():
        flags |= 1 << i
        struct.pack_into("<i", b, 4 + 4 * i, int(v))
    b[2] = flags & 0xFF
    b[3] = flags >> 8
    return b


def unpack_needs(b):
    # -> (evse, mode, {NEEDS_*: int}); ValueError on a mode this layout does not have
    mode = b[1]
    if mode > NEEDS_DC:
        raise ValueError("bad energy transfer mode")
    flags = b[2] | (b[3] << 8)
    v = {}
    for i in range(N_NEEDS):
        if flags & (1 << i):
            v[i] = get_i32(b, 4 + 4 * i)
    return b[0], mode, v


def pack_schedule(evse, first, periods, unit, time_base):
    # periods: the whole [(start s, limit)] list (at most 24 used); one chunk from `first`
    total = len(periods) if len(periods) < SCHED_PERIODS_MAX else SCHED_PERIODS_MAX
    b = bytearray(SCHED_BYTES)
    b[0] = evse
    b[1] = first
    b[2] = total
    b[3] = unit
    struct.pack_into("<i", b, 4, int(time_base))
    k = 0
    while k < SCHED_CHUNK and first + k < total:
        start, limit = periods[first + k]
        struct.pack_into("<ii", b, 8 + 8 * k, int(start), int(limit))
        k += 1
    return b


def schedule_header(b):
    # -> (evse, first, total, unit, time_base); ValueError when it cannot be a chunk of ours
    total, unit = b[2], b[3]
    if total == 0 or total > SCHED_PERIODS_MAX or unit > UNIT_DECI_A:
        raise ValueError("bad schedule chunk")
    return b[0], b[1], total, unit, get_i32(b, 4)


def schedule_period(b, k):
    # the k-th period of a chunk -> (start s, limit)
    return get_i32(b, 8 + 8 * k), get_i32(b, 12 + 8 * k)
