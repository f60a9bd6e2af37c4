# TRANSLATOR (HIGH, 32 KB, 100 ms watchdog): the bridge's mapping between PROTOCOL_A (source) and
# PROTOCOL_B (OCPP 2.0.1 upstream), bridge.translator over the hand-off queues. Woken by
# BRIDGE_IN / BRIDGE_REPLY, and every SLICE_MS for the answers it waits for. A crash or restart
# loses nothing (bridge/translator.py says why); the chargers are answered within their timeout.
from micropython import const
import msgs
from bridge import config
from bridge.translator import Translator

SLICE_MS = const(50)
CONFIG_RETRY_MS = const(5000)


async def main(ctx):
    fs = ctx.fs_root
    cfg = await ctx.configure(lambda: config.load(fs), config.ConfigError, CONFIG_RETRY_MS)
    tr = Translator(ctx, cfg)
    ctx.publish(tr)
    a = ctx.sid_of("PROTOCOL_A")
    b = ctx.sid_of("PROTOCOL_B")
    while True:
        ctx.feed()
        await ctx.receive(SLICE_MS)
        while ctx.try_receive() is not None:
            pass  # wake-ups (and SERVICE_* notices): the queues say what there is
        n_ans, n_up = tr.step()
        n_down, n_out = tr.step_csms()
        n_ans += n_down
        n_up += n_out
        if n_ans and a >= 0:
            msgs.send_bridge(ctx, a, msgs.BRIDGE_ANSWER, -1, n_ans)
        if n_up and b >= 0:
            msgs.send_bridge(ctx, b, msgs.BRIDGE_UP, -1, n_up)
