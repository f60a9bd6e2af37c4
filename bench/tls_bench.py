# TLS handshake benchmark under MicroPython (`jezgro bench`): the longest single call the SECC makes
# while a server handshake runs, (a) every state that can run before the peer must answer, in one call -
# what mbedtls_ssl_handshake() inside one read does on a port without the tls-handshake-step patch - and
# (b) one mbedTLS state per call (iso15118/transport/stream.py V2gStream.handshake_step);
# the baseline is the whole handshake's CPU time in the same run. Why it matters: the SECC's service runs
# cooperatively, so one call is time no other service gets (on the unix port also the CRITICAL tick: a
# service step over 50 ms drops ticks there). The client is tls_peer.py on CPython (OpenSSL), which
# `jezgro bench` starts beside this run; only the server's calls are timed, with the client's flights
# awaited by poll between them. Certificates: bench_fs/tls (P-256, made by `jezgro bench` with openssl).
import os
import sys
import json
import time
import select
import socket
import benchutil
from iso15118.transport.stream import TlsConfig, ISO15118_2_SUITES

ROUNDS = 5
PORT = 47311  # tls_peer.py connects here (`jezgro bench` passes the same number)
rows = []
row = benchutil.rower(rows)


def _read(name):
    with open(os.getenv("JEZGRO_FS") + "/tls/" + name, "rb") as f:
        return f.read()


def _listen():
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(socket.getaddrinfo("127.0.0.1", PORT)[0][-1])
    ls.listen(2)
    return ls


def handshake(ls, server_cfg, stepped):
    # One connection from tls_peer.py. -> (longest server call µs, sum of the server's calls µs, calls)
    s = ls.accept()[0]
    s.setblocking(False)
    ss = server_cfg.context(True).wrap_socket(s, server_side=True, do_handshake_on_connect=False)
    p = select.poll()
    p.register(ss, select.POLLIN)
    longest = total = calls = 0
    try:
        while True:
            t0 = time.ticks_us()
            r = ss.handshake_step()
            while r is False and not stepped:
                r = ss.handshake_step()  # what mbedtls_ssl_handshake() inside one read does
            dt = time.ticks_diff(time.ticks_us(), t0)
            calls += 1
            total += dt
            if dt > longest:
                longest = dt
            if r is True:
                return longest, total, calls
            if r is None and not p.poll(10000):  # waiting for the peer (the poll follows mbedTLS' need)
                raise OSError("tls_peer went silent")
    finally:
        ss.close()


def case(ls, name, server_cfg):
    whole = []
    steps = []
    for _ in range(ROUNDS):
        whole.append(handshake(ls, server_cfg, False))
        steps.append(handshake(ls, server_cfg, True))
    # the minimum over rounds: the code's own cost, not the host's scheduling
    base = min(w[1] for w in whole)
    row(name + ": longest call, whole handshake in one read", min(w[0] for w in whole), base,
        "%d calls" % whole[0][2])
    row(name + ": longest call, one state per call", min(s[0] for s in steps), base,
        "%d calls" % steps[0][2])


ca, cert, key = _read("ca.pem"), _read("secc.pem"), _read("secc.key")
listener = _listen()
try:
    case(listener, "ISO 15118-2 TLS 1.2 ECDHE-ECDSA, server auth", TlsConfig(cert, key, ciphers=ISO15118_2_SUITES))
    case(listener, "ISO 15118-20 TLS 1.3, mutual auth", TlsConfig(cert, key, ca=ca))
finally:
    listener.close()

if "--json" in sys.argv:
    print(json.dumps(rows))
else:
    print("%-70s %10s %10s %7s  %s" % ("server handshake (min of %d rounds)" % ROUNDS, "us", "whole us", "ratio",
                                        "note"))
    for r in rows:
        print("%-70s %10.0f %10.0f %7.2f  %s" % (r["name"], r["us"], r["baseline_us"], r["ratio"], r["note"]))
