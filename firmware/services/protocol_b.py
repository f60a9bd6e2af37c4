# PROTOCOL_B (MEDIUM, 64 KB, 1 s watchdog): the bridge's target side, the OCPP 2.0.1 client of
# OCPP_CLIENT (ocpp.client, provisioned from <fs>/ocpp.json) as one station with one EVSE per
# charger connector of <fs>/bridge.json, fed by TRANSLATOR (bridge.upstream).
from micropython import const
from ocpp import config
from ocpp.client import Client
from bridge import config as bridge_config
from bridge import upstream
from net import netstate

CONFIG_RETRY_MS = const(5000)


async def main(ctx):
    fs = ctx.fs_root

    def load():
        cfg = config.load(fs)
        bcfg = bridge_config.load(fs)
        cfg["connectors"] = bridge_config.evse_count(bcfg)
        # the TLS context from ETHERNET's (made once per CSMS url and certificate files)
        key = (cfg["url"], cfg.get("ca"), cfg.get("cert"), cfg.get("key"), cfg["security_profile"])
        return cfg, bcfg, netstate.tls_context(key, lambda: config.tls_context(cfg, fs))
    cfg, bcfg, tls = await ctx.configure(load, (config.ConfigError, bridge_config.ConfigError), CONFIG_RETRY_MS)
    cfg["headers"] = config.headers(cfg)
    cl = Client(ctx, cfg, fs, tls)
    cl.dm.set("SecurityCtrlr", "SecurityProfile", str(cfg["security_profile"]), force=True)
    ctx.publish(upstream.install(cl, bcfg))
    await cl.run()
