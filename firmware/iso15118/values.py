# Value types both roles (secc/, evcc/) share: DIN/-2 PhysicalValue (Multiplier, Unit, Value) and
# -20 RationalNumber (Exponent, Value) <-> int. Both carry a short Value scaled by a power of ten;
# one scaling (pow10) serves both readers. The writers stay apart on purpose: PhysicalValue has
# always floored (//), RationalNumber truncates toward zero, and either changing would change wire
# values for negative numbers.


def pow10(v, e):
    # v * 10^e as int; a negative e divides, truncating toward zero.
    while e > 0:
        v *= 10
        e -= 1
    while e < 0:
        v = int(v / 10)
        e += 1
    return v


def pv(value, unit):
    # DIN PhysicalValue: Value is a short; multiplier 0 while |value| fits, else scaled down by 10s.
    m = 0
    while value > 32767 or value < -32768:
        value //= 10
        m += 1
    return {"Multiplier": m, "Unit": unit, "Value": value}


def pv_value(p):
    # PhysicalValue -> int in the base unit (negative multipliers truncate toward zero).
    return pow10(p["Value"], p.get("Multiplier", 0))


def rn(x, exponent=0):
    # int (in units of 10^exponent) -> RationalNumber: the smallest exponent >= `exponent` whose
    # Value fits a short, truncating toward zero.
    x = int(x)
    e = exponent
    while x > 32767 or x < -32768:
        x = int(x / 10)
        e += 1
    return {"Exponent": e, "Value": x}


def rn_value(r, exponent=0):
    # RationalNumber -> int in units of 10^exponent (e.g. exponent=-3: milli), truncating toward zero.
    return pow10(r["Value"], r["Exponent"] - exponent)
