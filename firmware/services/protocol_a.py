# PROTOCOL_A (MEDIUM, 64 KB, 1 s watchdog): the bridge's source side: the OCPP 1.6J Central System
# for the chargers of <fs>/bridge.json (bridge.central16) and the Modbus TCP client of the wallboxes
# there (bridge.wallbox, one register map each). A bad or missing
# bridge.json is reported (ctx.status.config_error) and re-read every CONFIG_RETRY_MS.
from micropython import const
from bridge import config
from bridge.central16 import CentralSystem

CONFIG_RETRY_MS = const(5000)


async def main(ctx):
    fs = ctx.fs_root

    def load():
        cfg = config.load(fs)
        return cfg, config.load_maps(fs, cfg)
    cfg, maps = await ctx.configure(load, config.ConfigError, CONFIG_RETRY_MS)
    cs = CentralSystem(ctx, cfg, maps)
    ctx.publish(cs)
    await cs.run()
