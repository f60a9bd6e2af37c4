# SECC Discovery Protocol messages (ISO 15118-2 §7.10.1, -20 §7.9.3): the EVCC multicasts a request
# to ff02::1 UDP 15118 naming the security it wants; the SECC answers with the IPv6 address and TCP
# port of its V2G server and the security it grants. Pure codec; sdp_server/sdp_client own sockets.
from micropython import const
import struct
from iso15118.transport import v2gtp

SDP_PORT = const(15118)
MULTICAST = b"\xff\x02" + bytes(13) + b"\x01"  # ff02::1, all nodes on the link

SEC_TLS = const(0x00)
SEC_NONE = const(0x10)
TRANSPORT_TCP = const(0x00)
TRANSPORT_UDP = const(0x10)  # reserved by the standard for future use: decoded, never granted

REQ_LEN = const(2)
RES_LEN = const(20)

# The EVCC repeats its request every 250 ms, at most 50 times (ISO 15118-2 [V2G2-159..161]).
RETRY_MS = const(250)
MAX_REQUESTS = const(50)


class SdpError(ValueError):
    pass


def _check_fields(security, transport):
    if security not in (SEC_TLS, SEC_NONE):
        raise SdpError("security 0x%02x" % security)
    if transport not in (TRANSPORT_TCP, TRANSPORT_UDP):
        raise SdpError("transport 0x%02x" % transport)


def encode_req(security, transport=TRANSPORT_TCP):
    _check_fields(security, transport)
    return v2gtp.frame(v2gtp.PT_SDP_REQ, bytes((security, transport)))


def decode_req(datagram):
    # -> (security, transport). V2GTPError for framing, SdpError for content.
    pt, p = v2gtp.parse_datagram(datagram, RES_LEN)
    if pt != v2gtp.PT_SDP_REQ:
        raise SdpError("payload type 0x%04x is not an SDP request" % pt)
    if len(p) != REQ_LEN:
        raise SdpError("request payload of %d bytes" % len(p))
    _check_fields(p[0], p[1])
    return p[0], p[1]


def encode_res(addr16, port, security, transport=TRANSPORT_TCP):
    if len(addr16) != 16:
        raise SdpError("address must be 16 bytes")
    if not 0 < port < 65536:
        raise SdpError("port %d" % port)
    _check_fields(security, transport)
    return v2gtp.frame(v2gtp.PT_SDP_RES, bytes(addr16) + struct.pack(">HBB", port, security, transport))


def decode_res(datagram):
    # -> (addr16 bytes, port, security, transport)
    pt, p = v2gtp.parse_datagram(datagram, RES_LEN)
    if pt != v2gtp.PT_SDP_RES:
        raise SdpError("payload type 0x%04x is not an SDP response" % pt)
    if len(p) != RES_LEN:
        raise SdpError("response payload of %d bytes" % len(p))
    port, sec, tr = struct.unpack_from(">HBB", p, 16)
    if port == 0:
        raise SdpError("port 0")
    _check_fields(sec, tr)
    return bytes(p[0:16]), port, sec, tr
