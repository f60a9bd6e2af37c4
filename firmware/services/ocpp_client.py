# OCPP_CLIENT (LOW, 64 KB, 5 s watchdog): the OCPP 2.0.1 charging-station
# client (ocpp.client) with its provisioning from <fs>/ocpp.json (ocpp.config).
# A bad or missing config is reported (ctx.status.config_error, config_errors)
# and the service keeps feeding its watchdog and re-reads the file every
# CONFIG_RETRY_MS, instead of crash-looping into quarantine.
from micropython import const
from ocpp import config
from ocpp.client import Client

CONFIG_RETRY_MS = const(10000)


async def main(ctx):
    fs = ctx.fs_root

    def load():
        cfg = config.load(fs)
        return cfg, config.tls_context(cfg, fs)
    cfg, tls = await ctx.configure(load, config.ConfigError, CONFIG_RETRY_MS)
    cfg["headers"] = config.headers(cfg)
    cl = Client(ctx, cfg, fs, tls)
    cl.dm.set("SecurityCtrlr", "SecurityProfile", str(cfg["security_profile"]), force=True)
    ctx.publish(cl)
    from ocpp.features import install
    from power.gridmeter import GridMeter
    install(cl, GridMeter())  # the registers count what POWER_MGR measured at the grid connection
    await cl.run()
