# CURRENT_CTRL (CRITICAL, tick slot 1): the dq current controller and SVPWM of
# grid/curctl.py in the 10 kHz tick, after PLL_SYNC's tick in the same
# period. References and the enable come from DROOP_CTRL (curctl.CC); a
# SAFE_STATE from POWER_MGR latches the bridge off until it is lifted.
import power_stage
from grid import curctl
import msgs

POLL_MS = 10


async def main(ctx):
    curctl.reset()
    ctx.register_tick(curctl.make_tick(power_stage.ADC, power_stage.PWM, power_stage.apply))
    cc = curctl.CC
    ctx.publish(cc)
    while True:
        ctx.feed()
        msg = await ctx.receive(POLL_MS)
        while msg is not None:
            if msg.type == msgs.SAFE_STATE:
                cc[curctl.SAFE] = 1 if msg.i32(msgs.SAFE_ENTERING) else 0
            msg = ctx.try_receive()
