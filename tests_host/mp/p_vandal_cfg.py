# The V2G table plus VANDAL (p_vandal.py): simmain --config-module p_vandal_cfg
from config import v2g
from jezgro.const import PRIO_LOW
from jezgro.service import ServiceSpec

NAME = "v2g+vandal"
SAFE_STATE_OWNER = v2g.SAFE_STATE_OWNER
TABLE = tuple(v2g.TABLE) + (ServiceSpec(len(v2g.TABLE), "VANDAL", PRIO_LOW, 4, 16, 2000000, "p_vandal"),)
