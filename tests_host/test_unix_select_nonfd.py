"""select.poll on the unix port with an object that has no file descriptor (the tls module's sockets
are such objects) registered next to plain sockets: when the poll set's pollfd array grew and moved,
MicroPython rebased every object's pollfd pointer, the NULL of the fd-less ones included, which then
pointed at (new array - old array) and poll() read it: SIGSEGV. It crashed the 32-bit OCPP-over-TLS runs
of jezgro_host.mem32 (docs/reliability.md); fixed by boards/micropython/patches/
select-nonfd-pollfd-move.patch. Without the patch this snippet dies with SIGSEGV (both word sizes)."""
from __future__ import annotations

POLL_MOVE = r"""
import io, select, socket, harness

class NoFd(io.IOBase):
    # pollable, no file descriptor; ready for reading once `ready` is set
    ready = False
    def ioctl(self, req, arg):
        if req == 10:        # MP_STREAM_GET_FILENO: none
            return -22
        return 1 if (req == 3 and self.ready) else 0   # MP_STREAM_POLL: POLLIN when ready

rounds = []
for rnd in range(20):
    p = select.poll()
    nf = NoFd()
    p.register(nf, select.POLLIN)
    socks = []
    keep = []
    for i in range(12):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        socks.append(s)
        p.register(s, select.POLLIN)
        keep.append(bytearray(40))   # allocated right after the pollfd array: growing it moves it
    quiet = p.poll(0)
    nf.ready = True
    ready = p.poll(0)
    rounds.append([len(quiet), [r[0] is nf for r in ready]])
    for s in socks:
        s.close()
harness.result(rounds)
"""


def test_poll_with_an_fdless_object_survives_the_pollfd_array_moving(mp):
    r = mp(POLL_MOVE).data
    # every round: nothing ready, then exactly the fd-less object (the UDP sockets get no datagram)
    assert r == [[0, [True]]] * 20, r
