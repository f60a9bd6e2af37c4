# Allocation-free packing of DBC signals (little-endian integers up to 32 bits) between a frame's
# bytes and an array('i') of raw values, one per signal, driven by the flat
# (start bit, length, signed) tuples of canbus/tables.py. Raw values only: scaling is the caller's
# (docs/can.md). Every intermediate stays a small int on the board (|value| < 2^30): a chunk is at
# most 8 bits and the top chunk of a signed signal is sign-extended before it is shifted in.


def pack(buf, sigs, vals):
    # Write every signal of vals into buf (bytes outside the signals are left as they are).
    i = 0
    k = 0
    n = len(sigs)
    while i < n:
        pos = sigs[i]
        rem = sigs[i + 1]
        v = vals[k]
        while rem > 0:
            byte = pos >> 3
            off = pos & 7
            w = 8 - off
            if w > rem:
                w = rem
            mask = (1 << w) - 1
            buf[byte] = (buf[byte] & ~(mask << off) & 0xFF) | ((v & mask) << off)
            v >>= w  # arithmetic shift: a negative value keeps its two's-complement bits
            pos += w
            rem -= w
        i += 3
        k += 1


def unpack(buf, sigs, vals):
    # Read every signal of buf into vals (signed ones sign-extended).
    i = 0
    k = 0
    n = len(sigs)
    while i < n:
        pos = sigs[i] + sigs[i + 1]  # from the most significant chunk down
        rem = sigs[i + 1]
        signed = sigs[i + 2]
        v = 0
        top = True
        while rem > 0:
            # the chunk ending at pos: within one byte
            end = pos - 1
            byte = end >> 3
            lo = byte << 3
            start = pos - rem if pos - rem > lo else lo
            w = pos - start
            c = (buf[byte] >> (start & 7)) & ((1 << w) - 1)
            if top and signed and c >> (w - 1):
                c -= 1 << w
            top = False
            v = (v << w) | c  # the low w bits of v << w are zero, negative v included
            pos = start
            rem -= w
        vals[k] = v
        i += 3
        k += 1


def crc8(frame_id, buf, n):
    # CRC-8/SAE-J1850 (poly 0x1D, init 0xFF, xorout 0xFF) over the id (2 bytes, little-endian) and
    # buf[0:n]: with the id in it, a payload meant for another frame cannot pass as this one.
    crc = _crc_byte(0xFF, frame_id & 0xFF)
    crc = _crc_byte(crc, (frame_id >> 8) & 0xFF)
    i = 0
    while i < n:
        crc = _crc_byte(crc, buf[i])
        i += 1
    return crc ^ 0xFF


def _crc_byte(crc, b):
    crc ^= b
    j = 0
    while j < 8:
        crc = ((crc << 1) ^ 0x1D) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
        j += 1
    return crc
