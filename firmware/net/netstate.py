# The network as the ETHERNET service keeps it (spec §2.2): link and address state, name
# resolution with a small cache, the TLS client contexts, counters. Module state shared by the
# services of one interpreter (like jezgro/shared.py): ETHERNET writes the link fields; resolve()
# and tls_context() are what other services ask instead of setting up the network themselves.
# Without ETHERNET (the V2G configuration) resolve() still works: it just resolves.
import socket
from micropython import const

DNS_TTL_MS = const(300000)
DNS_CACHE = const(8)


class NetState:
    def __init__(self):
        self.managed = False  # an ETHERNET service keeps the fields below
        self.up = False
        self.ip = ""
        self.mask = ""
        self.gw = ""
        self.dns = ""
        self.iface = ""
        self.cache = {}  # (host, port) -> [getaddrinfo entry, expiry ms]
        self.tls = {}  # key -> ssl.SSLContext
        self.counters = {"link_up": 0, "link_down": 0, "reopens": 0, "dns_lookups": 0, "dns_cached": 0,
                         "dns_failures": 0, "tls_contexts": 0}
        self.last_error = ""

    def status(self):
        return {"up": self.up, "iface": self.iface, "ip": self.ip, "mask": self.mask, "gw": self.gw,
                "dns": self.dns, "counters": self.counters, "last_error": self.last_error,
                "dns_cache": len(self.cache)}


NET = NetState()


def resolve(host, port, ctx=None):
    # the first getaddrinfo entry for (host, port), from the cache while fresh (ctx: the caller's
    # service API, for the clock); OSError when the name does not resolve (counted)
    key = (host, port)
    e = NET.cache.get(key)
    if e is not None and ctx is not None and ctx.ticks_diff(e[1], ctx.ticks_ms()) > 0:
        NET.counters["dns_cached"] += 1
        return e[0]
    NET.counters["dns_lookups"] += 1
    try:
        ai = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0]
    except (OSError, IndexError) as x:
        NET.counters["dns_failures"] += 1
        NET.last_error = "resolve %s: %s" % (host[:40], x)
        raise OSError("cannot resolve %s" % host[:40])
    if ctx is not None:
        if len(NET.cache) >= DNS_CACHE:
            NET.cache.pop(next(iter(NET.cache)))
        NET.cache[key] = [ai, ctx.ticks_add(ctx.ticks_ms(), DNS_TTL_MS)]
    return ai


def tls_context(key, make):
    # the TLS client context for key (e.g. the CSMS url and certificate files), made once by make()
    c = NET.tls.get(key)
    if c is None:
        c = make()
        if c is not None:
            NET.tls[key] = c
            NET.counters["tls_contexts"] += 1
    return c
