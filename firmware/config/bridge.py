# Protocol bridge service table (spec §2.2). Data only.
from micropython import const
from jezgro.const import PRIO_HIGH as H, PRIO_MEDIUM as M, PRIO_LOW as L
from jezgro.service import ServiceSpec as S

KERNEL = const(0)
PROTOCOL_A = const(1)
PROTOCOL_B = const(2)
TRANSLATOR = const(3)
CAN_HANDLER = const(4)
ETHERNET = const(5)
AUDIT_LOGGER = const(6)

NAME = "bridge"
TOTAL_KB = 256  # "Total RAM: ~256 KB of 1 MB available"
SAFE_STATE_OWNER = TRANSLATOR

TABLE = (
    S(0, "KERNEL", -1, 4, 16, 0, None, "Core (privileged)"),
    S(1, "PROTOCOL_A", M, 8, 64, 1000000, "services.protocol_a", "Source protocol"),
    S(2, "PROTOCOL_B", M, 8, 64, 1000000, "services.protocol_b", "Target protocol"),
    S(3, "TRANSLATOR", H, 4, 32, 100000, "services.translator", "Message translation",
      mailbox=64),
    S(4, "CAN_HANDLER", H, 4, 16, 100000, "services.can_handler", "Internal CAN-FD"),
    S(5, "ETHERNET", M, 4, 32, 500000, "services.ethernet", "Network stack"),
    S(6, "AUDIT_LOGGER", L, 4, 32, 2000000, "services.audit_logger", "Event logging",
      mailbox=128),
)
