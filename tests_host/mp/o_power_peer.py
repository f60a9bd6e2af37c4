# Stands in for POWER_MGR: records every POWER_LIMITS (max import W, max export W, source, flags,
# valid ms) OCPP_CLIENT sends it.
import msgs

log = []


async def main(ctx):
    while True:
        ctx.feed()
        msg = await ctx.receive(200)
        if msg is not None and msg.type == msgs.POWER_LIMITS:
            sf = msg.i32(msgs.LIM_SRC_FLAGS)
            log.append([msg.i32(msgs.LIM_MAX_IMPORT_W), msg.i32(msgs.LIM_MAX_EXPORT_W), msgs.lim_src(sf),
                        msgs.lim_flags(sf), msg.i32(msgs.LIM_VALID_MS)])
