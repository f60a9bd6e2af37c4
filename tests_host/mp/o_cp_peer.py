# Stands in for the SLAC service (it owns the control pilot): once OCPP_CLIENT is registered, the EV
# plugs in (CP_STATE B), stays 3 s, then leaves (CP_STATE A); then a fault state F and an unplug again.
import msgs

log = []
OCPP = 1


async def main(ctx):
    from o_station import until_registered
    await until_registered(ctx, OCPP, 500)
    for level, wait_ms in ((msgs.CP_B, 3000), (msgs.CP_C, 500), (msgs.CP_A, 1500), (msgs.CP_F, 1000)):
        log.append([msgs.CP_NAMES[level], ctx.send_i32(OCPP, msgs.CP_STATE, level, 50, 32, 1)])
        t0 = ctx.ticks_ms()
        while ctx.ticks_diff(ctx.ticks_ms(), t0) < wait_ms:
            ctx.feed()
            await ctx.sleep_ms(100)
    while True:
        ctx.feed()
        await ctx.sleep_ms(200)
