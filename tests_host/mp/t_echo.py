# Answers PING with PONG (to the sender's handle), counts its starts in
# its store, feeds its watchdog. Used for IPC, generation and restart tests.
import msgs

log = []  # (event, detail) seen by the test after the run


async def main(ctx):
    n = ctx.store.get("starts", 0) + 1
    ctx.store.set("starts", n)
    log.append(("start", ctx.is_restart, n))
    while True:
        ctx.feed()
        msg = await ctx.receive(100)
        if msg is None:
            continue
        log.append(("msg", msg.type, msg.i32(0)))
        if msg.type == msgs.PING:
            ctx.send_i32(msg.src_handle(), msgs.PONG, msg.i32(0))
