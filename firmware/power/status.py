# POWER_MGR's view of the power path for the other services that report it (CAN_HANDLER's
# GW_STATUS/GW_POWER/GW_V2G): one array('i') written by POWER_MGR on every poll and only read
# elsewhere. Both run as coroutines of the same loop (never the tick), so a reader always sees one
# whole update without a lock. Units: W, var, mHz; sources are msgs.SRC_* or NONE.
import array
from micropython import const

STATE = const(0)  # power.gateway_fsm state
P_MEAS = const(1)  # measured active power, W, + import (power/measure.py, filtered)
Q_MEAS = const(2)  # measured reactive power, var, + injected
P_SET = const(3)  # the setpoint POWER_MGR sends DROOP_CTRL, W
SET_SRC = const(4)  # the source whose setpoint applies
IMP_LIM = const(5)  # the import limit in force, W (0 when IMP_SRC is NONE)
IMP_SRC = const(6)
EXP_LIM = const(7)  # the export limit in force, W
EXP_SRC = const(8)
SESSION = const(9)  # msgs.SESSION_*
PROTOCOL = const(10)  # secc.session_msg PROTO_* of the last SESSION_STATE
SERIAL = const(11)  # session number since boot
HELD = const(12)  # number of held (quarantined) services
EMERG = const(13)  # GRID_EMERGENCY messages seen
UPDATES = const(14)  # POWER_MGR polls so far: 0 = POWER_MGR has not run
# Energy through the grid connection, integrated at the 10 kHz control tick (grid/energy.py, in
# CURRENT_CTRL's tick) and copied here by POWER_MGR every poll: whole joules, wrapping at 2^30 like a
# meter's pulse counter. The tick's counters belong to no service, so restarts continue them; readers
# take differences.
E_IMP_J = const(15)
E_EXP_J = const(16)
# The measurement behind P_MEAS/Q_MEAS (one poll's snapshot): Park voltages and currents, Q8 V / Q8 A
# (amplitude-invariant: the magnitude is the phase peak), generator convention for the currents.
VD_Q8 = const(17)
VQ_Q8 = const(18)
ID_Q8 = const(19)
IQ_Q8 = const(20)
FIELDS = const(21)
E_WRAP = const(0x3FFFFFFF)
NONE = const(15)  # no source (as on CAN: a 4-bit field)

GW = array.array("i", bytes(4 * FIELDS))
