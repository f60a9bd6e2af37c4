# Stands in for the ISO15118 service: once OCPP_CLIENT is registered, sends the
# EV's charging needs, a V2G charging schedule (7 periods, some negative = discharge,
# in two chunks), a certificate installation request, an OCSP status request and (8 s later) a Plug & Charge
# contract id to authorise, in the IPC formats of
# ocpp/iso15118_bridge.py; records the certificate response.
import struct
import board
import msgs
from ocpp.iso15118_bridge import REQ_FILE

log = []
OCPP = 1


def needs():
    b = bytearray(44)
    b[0] = 1
    b[1] = 1  # AC three phase
    flags = (1 << 0) | (1 << 1) | (1 << 2) | (1 << 3) | (1 << 4)
    b[2] = flags & 0xFF
    b[3] = flags >> 8
    for i, v in ((0, 1893456000), (1, 30000), (2, 6), (3, 32), (4, 400)):
        struct.pack_into("<i", b, 4 + 4 * i, v)
    return b


SCHED = [(0, 11000), (900, 7000), (1800, -5000), (2700, -10000), (3600, 0), (4500, 11000), (5400, 3000)]


def chunk(first):
    b = bytearray(48)
    b[0] = 1
    b[1] = first
    b[2] = len(SCHED)
    b[3] = 0
    struct.pack_into("<i", b, 4, 1893456000)
    for k in range(5):
        if first + k < len(SCHED):
            struct.pack_into("<ii", b, 8 + 8 * k, *SCHED[first + k])
    return b


async def main(ctx):
    from o_station import until_registered
    await until_registered(ctx, OCPP, 300)
    log.append(["needs", ctx.send(OCPP, msgs.EV_CHARGING_NEEDS, needs())])
    bad = needs()
    bad[1] = 9
    log.append(["bad", ctx.send(OCPP, msgs.EV_CHARGING_NEEDS, bad)])
    log.append(["sched", ctx.send(OCPP, msgs.EV_CHARGING_SCHEDULE, chunk(0)),
                ctx.send(OCPP, msgs.EV_CHARGING_SCHEDULE, chunk(5))])
    with open(board.FS_ROOT + "/" + REQ_FILE, "w") as f:
        f.write("gAEiAzRVZneImaq7zN3u")
    log.append(["cert", ctx.send(OCPP, msgs.ISO_CERT_REQUEST, b"\x00urn:iso:15118:2:2013:MsgDef")])
    while not any(e[0] == "cert_response" for e in log):
        ctx.feed()
        msg = await ctx.receive(200)
        if msg is not None and msg.type == msgs.ISO_CERT_RESPONSE:
            log.append(["cert_response", msg.i32(0)])
    with open(board.FS_ROOT + "/" + REQ_FILE, "w") as f:
        f.write('{"hashAlgorithm": "SHA256", "issuerNameHash": "a1", "issuerKeyHash": "b2", '
                '"serialNumber": "0C", "responderURL": "http://ocsp.example"}')
    log.append(["status", ctx.send(OCPP, msgs.ISO_CERT_REQUEST, b"\x02")])
    for i in range(40):  # Plug & Charge later, once the test's reservation on EVSE 1 has expired
        ctx.feed()
        msg = await ctx.receive(200)
        if msg is not None and msg.type == msgs.ISO_CERT_RESPONSE:
            log.append(["cert_response", msg.i32(0)])
    log.append(["auth", ctx.send(OCPP, msgs.ISO_AUTHORIZE, b"\x01DEJEZC12345678")])
    while True:
        ctx.feed()
        msg = await ctx.receive(200)
        if msg is not None and msg.type == msgs.ISO_CERT_RESPONSE:
            log.append(["cert_response", msg.i32(0)])
