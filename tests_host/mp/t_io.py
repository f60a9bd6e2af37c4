# Exercises ctx.wait_io / ctx.wait_io_any on UDP sockets over loopback.
import socket
import select

log = []


def _udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(socket.getaddrinfo("127.0.0.1", 0)[0][-1])
    s.setblocking(False)
    return s


async def main(ctx):
    a = _udp()
    b = _udp()
    port_b = 0
    # Pick a port for b ourselves (MicroPython has no getsockname).
    for p in range(47110, 47200):
        try:
            b.close()
            b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            b.bind(socket.getaddrinfo("127.0.0.1", p)[0][-1])
            b.setblocking(False)
            port_b = p
            break
        except OSError:
            pass
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    ctx.feed()
    log.append(["single-timeout", await ctx.wait_io(b, select.POLLIN, 20)])
    tx.sendto(b"x", socket.getaddrinfo("127.0.0.1", port_b)[0][-1])
    log.append(["single-ready", await ctx.wait_io(b, select.POLLIN, 1000)])
    b.recv(16)
    log.append(["any-timeout", await ctx.wait_io_any((a, b), select.POLLIN, 20)])
    tx.sendto(b"y", socket.getaddrinfo("127.0.0.1", port_b)[0][-1])
    got = await ctx.wait_io_any((a, b), select.POLLIN, 1000)
    log.append(["any-ready", [a, b].index(got) if got is not None else -1])
    await ctx.wait_forever()
