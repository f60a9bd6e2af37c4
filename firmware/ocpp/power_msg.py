# The composite-schedule limit as MSG_POWER_SCHEDULE to POWER_MGR, in the
# power-path payload format of power/messages.py (four int32):
#   i32[0] P in W (positive = charging / import, negative = V2G discharge)
#   i32[1] Q in var (0: OCPP schedules active power only)
#   i32[2] SRC_OCPP
#   i32[3] valid for ms (0: until replaced): the time to the schedule's next
#          change, so a limit that ends is not applied beyond its period.
from jezgro.const import MSG_POWER_SCHEDULE
from power.messages import SRC_OCPP

MAX_VALID_MS = 3600000  # re-sent at least hourly; keeps the int32 far from overflow


def send(ctx, dst, limit_w, valid_ms):
    v = valid_ms if 0 <= valid_ms <= MAX_VALID_MS else MAX_VALID_MS
    return ctx.send_i32(dst, MSG_POWER_SCHEDULE, int(limit_w), 0, SRC_OCPP, v)
