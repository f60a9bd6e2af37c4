# ISO 15118 transport benchmarks under MicroPython (`jezgro bench`): V2GTP deframing/framing, SDP
# codec and pcapng capture cost per message, each next to a same-process baseline (copying the
# same bytes), plus the heap a deframer holds.
import sys
import benchutil
import json
import gc
from iso15118.transport import v2gtp, sdp
from iso15118.capture import Capture

N = 2000
rows = []


timed = benchutil.timed
row = benchutil.rower(rows)


for size in (64, 1024, 8192):
    frame = v2gtp.frame(v2gtp.PT_20_DC, bytes(size))
    d = v2gtp.Deframer()
    feed_one = d.feed

    def deframe(n, frame=frame, feed_one=feed_one):
        for _ in range(n):
            feed_one(frame)

    def copy(n, frame=frame):
        # Baseline: one copy of the same bytes (bytearray: bytes(b) returns b itself), the least any receive path does.
        for _ in range(n):
            bytearray(frame)

    n = N if size < 8192 else N // 4
    row("deframe %d B" % size, timed(deframe, n), timed(copy, n), "Deframer.feed, whole message")

    def enframe(n, payload=bytes(size)):
        for _ in range(n):
            v2gtp.frame(v2gtp.PT_20_DC, payload)

    row("frame %d B" % size, timed(enframe, n), timed(copy, n), "header + payload concatenation")

req = sdp.encode_req(sdp.SEC_TLS)
res = sdp.encode_res(bytes(range(16)), 61000, sdp.SEC_TLS)


def sdp_codec(n):
    for _ in range(n):
        sdp.decode_req(req)
        sdp.decode_res(res)


def sdp_copy(n):
    for _ in range(n):
        bytearray(req)
        bytearray(res)


row("SDP decode req+res", timed(sdp_codec, N), timed(sdp_copy, N), "server and client parse")

cap = Capture("/dev/null" if sys.platform != "pyboard" else "cap.pcapng", "bench")
tap = cap.tap()
addr = bytes(range(16))
tap.tcp_open(addr, 1, addr, 2, True)
seg = v2gtp.frame(v2gtp.PT_20_DC, bytes(120))  # a typical -20 DC charge-loop message size


def capture(n):
    for _ in range(n):
        tap.tcp_data(True, seg)


def copy_seg(n):
    for _ in range(n):
        bytearray(seg)


row("capture 128 B segment", timed(capture, N // 4), timed(copy_seg, N // 4), "IPv6+TCP header, checksum, EPB")
cap.close()

gc.collect()
m0 = gc.mem_alloc()
d = v2gtp.Deframer()
gc.collect()
heap_deframer = gc.mem_alloc() - m0

if "--json" in sys.argv:
    print(json.dumps({"rows": rows, "deframer_heap_bytes": heap_deframer}))
else:
    print("%-24s %10s %12s %7s  %s" % ("benchmark", "us/op", "baseline us", "ratio", "what"))
    for r in rows:
        print("%-24s %10.2f %12.2f %7.1f  %s" % (r["name"], r["us"], r["baseline_us"], r["ratio"], r["note"]))
    print("Deframer heap: %d bytes (8 KB max payload + header, allocated once)" % heap_deframer)
