# Shared numeric constants. micropython.const keeps them out of the heap and
# lets mpy-cross fold them into the bytecode.
from micropython import const

# Priorities: lower number wins. CRITICAL services run from the tick, not the scheduler.
PRIO_CRITICAL = const(0)
PRIO_HIGH = const(1)
PRIO_MEDIUM = const(2)
PRIO_LOW = const(3)
PRIO_NAMES = ("CRITICAL", "HIGH", "MEDIUM", "LOW")

# Restart policies (Erlang/OTP child restart types).
RESTART_PERMANENT = const(0)  # always restarted, also after a normal return
RESTART_TRANSIENT = const(1)  # restarted only after a fault
RESTART_TEMPORARY = const(2)  # never restarted
POLICY_NAMES = ("permanent", "transient", "temporary")

# Service run states.
ST_ABSENT = const(0)  # declared in the table, code not built into this image
ST_READY = const(1)
ST_WAITING = const(2)
ST_HELD = const(3)  # quarantined by restart intensity
ST_STOPPED = const(4)  # returned (or temporary and faulted); not restarted
ST_NAMES = ("absent", "ready", "waiting", "held", "stopped")

# What a waiting service waits for.
W_NONE = const(0)
W_SLEEP = const(1)
W_RECV = const(2)
W_IO = const(3)
W_FOREVER = const(4)

# Fault causes, as carried in audit events.
F_EXCEPTION = const(1)
F_MEMORY = const(2)
F_WATCHDOG = const(3)  # yielded but stopped feeding
F_HANG = const(4)  # never yielded; broken asynchronously
F_TICK = const(5)  # CRITICAL tick function raised
F_EXIT = const(6)  # returned although permanent
FAULT_NAMES = ("none", "exception", "memory", "watchdog", "hang", "tick", "exit")

# IPC result codes (negative = error). Plain ints: returning them allocates nothing.
OK = const(0)
E_NOSVC = const(-1)
E_STALE = const(-2)
E_POOL = const(-3)
E_FULL = const(-4)
E_SIZE = const(-5)
E_DOWN = const(-6)

# Message ids and payloads: the catalogue in firmware/msgs/.

# Audit event codes, carried in msgs.AUDIT_EVENT.
EV_BOOT = const(1)
EV_START = const(2)
EV_CRASH = const(3)
EV_RESTART = const(4)
EV_WATCHDOG = const(5)
EV_QUARANTINE = const(6)
EV_RESET_CAUSE = const(7)
EV_EXIT = const(8)
EV_IPC_STALE = const(9)
EV_STATION_TIMEOUT = const(10)  # CAN_HANDLER: the station command expired (communication loss)
EV_CAN_BUS_OFF = const(11)  # CAN_HANDLER: the CAN controller went bus-off
EV_CONFIG_ERROR = const(12)  # a service's configuration cannot be used (text: file, key, reason)
EV_LINK_ERROR = const(13)  # a service's upstream link failed for a new reason (TLS, auth, refused ...)
EV_OCPP_FALLBACK = const(14)  # OCPP_CLIENT: the offline fallback limit came into force or ended (text)
EVENT_NAMES = ("none", "boot", "start", "crash", "restart", "watchdog",
               "quarantine", "reset_cause", "exit", "ipc_stale", "station_timeout", "can_bus_off",
               "config_error", "link_error", "ocpp_fallback")

# CRITICAL domain.
TICK_HZ = const(10000)
TICK_US = const(100)
