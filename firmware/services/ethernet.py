# ETHERNET (MEDIUM, 32 KB, 500 ms watchdog): the network of the bridge (spec §2.2). Brings the
# interface up from <fs>/net.json (board.net_open: DHCP or static on the board, the host's
# interface on unix), watches link and address (board.net_status every POLL_MS), re-opens the
# interface when the link stays down (back-off), counts changes, and keeps net.netstate.NET, which
# the other services ask for names (resolve) and TLS contexts instead of touching the network.
#   net.json: {"mode": "dhcp" | "static", "ip", "mask", "gw", "dns", "iface"}   (all optional; unix: iface)
from micropython import const
import board
from jezgro import persist
from net.netstate import NET
from net.backoff import BackOff

POLL_MS = const(500)
FILE = "net.json"
KNOWN = ("mode", "ip", "mask", "gw", "dns", "iface")


class ConfigError(Exception):
    pass


def parse(text):
    from ocpp.config import json_object
    d = json_object(text, FILE, KNOWN, ConfigError) if text else {}
    mode = d.get("mode", "dhcp")
    if mode not in ("dhcp", "static"):
        raise ConfigError("%s: mode must be dhcp or static" % FILE)
    out = {"mode": mode, "iface": d.get("iface", "")}
    for k in ("ip", "mask", "gw", "dns"):
        v = d.get(k, "")
        if not isinstance(v, str) or (v and len(v.split(".")) != 4):
            raise ConfigError("%s: %s must be a dotted IPv4 address" % (FILE, k))
        if mode == "static" and k != "dns" and not v:
            raise ConfigError("%s: static mode needs %s" % (FILE, k))
        out[k] = v
    return out


def load(fs):
    text, why = persist.read_text(fs + "/" + FILE)
    if text is None and why != "missing":
        raise ConfigError("%s: %s" % (FILE, why))
    return parse(text or "")


async def main(ctx):
    cfg = await ctx.configure(lambda: load(ctx.fs_root), ConfigError, 5000)
    NET.managed = True
    NET.iface = cfg["iface"] or board.NAME
    ctx.publish(NET)
    bo = BackOff(1, 0, 4)  # 1 s, doubling to 16 s between re-opens of a dead link
    why = board.net_open(cfg)
    NET.last_error = why
    retry_at = ctx.ticks_add(ctx.ticks_ms(), bo.next_ms())
    while True:
        ctx.feed()
        up, ip, mask, gw, dns = board.net_status()
        if up and not NET.up:
            NET.counters["link_up"] += 1
            bo.reset()
        elif NET.up and not up:
            NET.counters["link_down"] += 1
            retry_at = ctx.ticks_add(ctx.ticks_ms(), bo.next_ms())
        NET.up = up
        if (ip, dns) != (NET.ip, NET.dns):
            NET.cache.clear()  # another address or resolver: names may resolve differently
        NET.ip, NET.mask, NET.gw, NET.dns = ip, mask, gw, dns
        if not up and ctx.ticks_diff(ctx.ticks_ms(), retry_at) >= 0:
            NET.counters["reopens"] += 1
            why = board.net_open(cfg)
            NET.last_error = why or NET.last_error
            retry_at = ctx.ticks_add(ctx.ticks_ms(), bo.next_ms())
        await ctx.sleep_ms(POLL_MS)
