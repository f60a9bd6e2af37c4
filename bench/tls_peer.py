"""The TLS client of bench/tls_bench.py, on CPython (`jezgro bench` starts it): it connects to the
MicroPython server on 127.0.0.1:PORT again and again, completes each handshake, sends one byte and waits
for the server to close. argv: port, certificate folder, then the connections as tls12|tls13 names."""
import socket
import ssl
import sys
import time

port, d, plan = int(sys.argv[1]), sys.argv[2], sys.argv[3:]


def context(kind: str) -> ssl.SSLContext:
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    c.load_verify_locations(f"{d}/ca.pem")
    c.check_hostname = False
    if kind == "tls12":
        c.maximum_version = ssl.TLSVersion.TLSv1_2
        c.set_ciphers("ECDHE-ECDSA-AES128-SHA256")
    else:  # ISO 15118-20: TLS 1.3, mutual authentication
        c.minimum_version = ssl.TLSVersion.TLSv1_3
        c.load_cert_chain(f"{d}/ev.pem", f"{d}/ev.key")
    return c


for kind in plan:
    for attempt in range(200):  # the server may not listen yet
        try:
            raw = socket.create_connection(("127.0.0.1", port), timeout=10)
            break
        except OSError:
            time.sleep(0.05)
    else:
        sys.exit("tls_peer: the bench's server never listened")
    with context(kind).wrap_socket(raw, server_hostname="secc.test") as s:
        s.sendall(b"x")
        try:
            s.recv(1)  # b"" when the server closes
        except OSError:
            pass
