# PROTOCOL_A (MEDIUM, 64 KB, 1 s watchdog): the bridge's source side. Source "ocpp16": the OCPP
# 1.6J Central System for the chargers of <fs>/bridge.json (bridge.central16). A bad or missing
# bridge.json is reported (ctx.status.config_error) and re-read every CONFIG_RETRY_MS.
from micropython import const
from bridge import config
from bridge.central16 import CentralSystem

CONFIG_RETRY_MS = const(5000)


async def main(ctx):
    fs = ctx.fs_root
    cfg = await ctx.configure(lambda: config.load(fs), config.ConfigError, CONFIG_RETRY_MS)
    cs = CentralSystem(ctx, cfg)
    ctx.publish(cs)
    await cs.run()
