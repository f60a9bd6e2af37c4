# V2G gateway service table (spec §2.1). Data only: the kernel boots exactly this.
# Restart intensity (R restarts in T s) is ours: the spec does not give it.
from micropython import const
from jezgro.const import PRIO_CRITICAL as C, PRIO_HIGH as H, PRIO_MEDIUM as M, PRIO_LOW as L
from jezgro.service import ServiceSpec as S

KERNEL = const(0)
PLL_SYNC = const(1)
CURRENT_CTRL = const(2)
DROOP_CTRL = const(3)
POWER_MGR = const(4)
ISO15118 = const(5)
SLAC = const(6)
OCPP_CLIENT = const(7)
CAN_HANDLER = const(8)
AUDIT_LOGGER = const(9)

NAME = "v2g"
TOTAL_KB = 368  # "Total RAM: ~368 KB of 1 MB available"
SAFE_STATE_OWNER = POWER_MGR

TABLE = (
    #  id  name            prio stack mem  watchdog_us module                     purpose
    S(0, "KERNEL", -1, 4, 16, 0, None, "Core (privileged)"),
    S(1, "PLL_SYNC", C, 4, 16, 10000, "services.pll_sync", "Grid synchronization",
      max_restarts=3, period_s=10, tick_slot=0),
    S(2, "CURRENT_CTRL", C, 4, 32, 100, "services.current_ctrl", "dq-frame current control",
      max_restarts=3, period_s=10, tick_slot=1),
    S(3, "DROOP_CTRL", H, 4, 16, 10000, "services.droop_ctrl", "P(f), Q(V) droop",
      max_restarts=5, period_s=10),
    S(4, "POWER_MGR", H, 4, 16, 50000, "services.power_mgr", "Power flow coordination",
      max_restarts=5, period_s=10, mailbox=64),
    S(5, "ISO15118", M, 16, 128, 1000000, "services.iso15118", "V2G protocol stack",
      max_restarts=5, period_s=60),
    S(6, "SLAC", M, 8, 32, 500000, "services.slac", "Signal Level Attenuation",
      max_restarts=5, period_s=60),
    S(7, "OCPP_CLIENT", L, 8, 64, 5000000, "services.ocpp_client", "Backend communication",
      max_restarts=10, period_s=60),
    S(8, "CAN_HANDLER", H, 4, 16, 100000, "services.can_handler", "Internal CAN-FD",
      max_restarts=5, period_s=10),
    S(9, "AUDIT_LOGGER", L, 4, 32, 2000000, "services.audit_logger", "Event logging",
      max_restarts=5, period_s=10, mailbox=128),
)
