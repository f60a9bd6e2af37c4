# Sends the messages t_sender.PLAN lists, one per step: [dst sid, type, "i32" | byte count], and
# records what each send returned (the kernel's layout check raises in the sender).
PLAN = []
sent = []


async def main(ctx):
    while PLAN:
        dst, mtype, how = PLAN.pop(0)
        if how == "i32":
            sent.append(ctx.send_i32(dst, mtype, 1, 2, 3, 4))
        else:
            sent.append(ctx.send(dst, mtype, bytearray(how)))
        await ctx.sleep_ms(5)
    await ctx.wait_forever()
