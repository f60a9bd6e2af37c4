# A configuration whose CRITICAL service crash-loops: it gets quarantined, the
# kernel stops feeding the hardware watchdog, and the (simulated) board resets.
from jezgro.const import PRIO_CRITICAL, PRIO_HIGH, PRIO_LOW
from jezgro.service import ServiceSpec as S

NAME = "critloop"
SAFE_STATE_OWNER = 2
TABLE = (
    S(0, "KERNEL", -1, 4, 16, 0, None),
    S(1, "PLL_SYNC", PRIO_CRITICAL, 4, 16, 10000, "t_crashloop", max_restarts=2, period_s=10, tick_slot=0),
    S(2, "POWER_MGR", PRIO_HIGH, 4, 16, 50000, "t_safe"),
    S(3, "AUDIT_LOGGER", PRIO_LOW, 4, 32, 2000000, "services.audit_logger", mailbox=128),
)
