# OCPP_CLIENT (LOW, 64 KB, 5 s watchdog): the OCPP 2.0.1 charging-station
# client (ocpp.client) with its provisioning from <board.FS_ROOT>/ocpp.json
# (ocpp.config). A bad or missing config is reported in ctx.config_error and
# the service keeps feeding its watchdog and re-reads the file every
# CONFIG_RETRY_MS, instead of crash-looping into quarantine.
from micropython import const
from ocpp import config
from ocpp.client import Client

CONFIG_RETRY_MS = const(10000)


async def main(ctx):
    fs = ctx.kernel.board.FS_ROOT
    while True:
        ctx.feed()
        try:
            cfg = config.load(fs)
            tls = config.tls_context(cfg, fs)
            break
        except config.ConfigError as e:
            ctx.config_error = str(e)
            ctx.config_errors = getattr(ctx, "config_errors", 0) + 1
        t = 0
        while t < CONFIG_RETRY_MS:
            ctx.feed()
            await ctx.sleep_ms(500)
            t += 500
    ctx.config_error = ""
    cfg["headers"] = config.headers(cfg)
    cl = Client(ctx, cfg, fs, tls)
    ctx.dm_profile = cl.dm.set("SecurityCtrlr", "SecurityProfile", str(cfg["security_profile"]), force=True)
    ctx.ocpp = cl  # status for the simulation, tests and bench
    from ocpp.features import install
    install(cl)
    await cl.run()
