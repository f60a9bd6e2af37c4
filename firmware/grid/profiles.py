# Grid-code profiles as data, selected at provisioning (DROOP_CTRL reads the
# name from the config file's "grid_code" key; default ENTSO-E). Every field
# the droop, the protection and the tests use comes from here.
#
#   f_band_hz     continuous operating (critical) band: outside -> GRID_EMERGENCY
#   v_band_pu     continuous voltage band
#   db_lo/db_hi   P(f) activation thresholds (Hz): deadband or LFSM-U / LFSM-O points
#   droop_pct     P(f) droop s: dP/Pn = (df/fn)/s beyond the threshold
#   response_s    P(f) response time (time to settle after a frequency step)
#   ramp_pct_s    ramp limit of scheduled power changes while running, % Pn per second
#   rocof_hz_s    ROCOF the unit must ride through (tested in the PLL suite)
#   qv            Q(V): [v_lo_full, v_lo_db, v_hi_db, v_hi_full] pu, qmax as % Sn
#   trip          protection: under/over frequency [Hz, s], under/over voltage [[pu, s], ...]
#   frt           fault ride-through: retained voltage pu for s that must not trip
# Sources: spec §3.4 and §5.4; EN 50549-1 (LFSM-O/U 50.2/49.8 Hz, 2-12 %);
# VDE AR-N 4110; EirGrid; UK G99 (LFSM-O 50.4 Hz at 10 %); IEEE 1547-2018
# Category II (36 mHz deadband, 5 %, 0.88-1.10 pu, 2 s islanding clearance).
PROFILES = {
    "ENTSO-E": {
        "f_band_hz": (47.5, 51.5), "v_band_pu": (0.85, 1.10), "db_lo": 49.95, "db_hi": 50.05,
        "droop_pct": 4.0, "response_s": 2.0, "ramp_pct_s": 10.0 / 60, "rocof_hz_s": 2.0,
        "qv": (0.90, 0.95, 1.05, 1.10, 44.0),
        "trip": {"uf": (47.5, 0.1), "of": (51.5, 0.1), "uv": ((0.05, 0.25), (0.3, 0.6), (0.85, 3.0)),
                 "ov": ((1.10, 1.0), (1.20, 0.1))},
        "frt": ((0.05, 0.15), (0.3, 0.15)),
    },
    "VDE-AR-N-4110": {
        "f_band_hz": (47.5, 51.5), "v_band_pu": (0.90, 1.10), "db_lo": 49.99, "db_hi": 50.01,
        "droop_pct": 4.0, "response_s": 1.0, "ramp_pct_s": 10.0 / 60, "rocof_hz_s": 2.0,
        "qv": (0.90, 0.95, 1.05, 1.10, 44.0),
        "trip": {"uf": (47.5, 0.1), "of": (51.5, 0.1), "uv": ((0.05, 0.25), (0.3, 0.8), (0.8, 3.0)),
                 "ov": ((1.10, 1.0), (1.25, 0.1))},
        "frt": ((0.0, 0.15), (0.05, 0.15), (0.3, 0.15)),
    },
    "EirGrid": {
        "f_band_hz": (47.0, 52.0), "v_band_pu": (0.90, 1.10), "db_lo": 49.985, "db_hi": 50.015,
        "droop_pct": 4.0, "response_s": 1.0, "ramp_pct_s": 10.0 / 60, "rocof_hz_s": 1.0,
        "qv": (0.90, 0.95, 1.05, 1.10, 44.0),
        "trip": {"uf": (47.0, 0.1), "of": (52.0, 0.1), "uv": ((0.05, 0.25), (0.3, 0.6), (0.85, 3.0)),
                 "ov": ((1.10, 1.0), (1.20, 0.1))},
        "frt": ((0.05, 0.15), (0.3, 0.15)),
    },
    "UK-G99": {
        "f_band_hz": (47.5, 51.5), "v_band_pu": (0.90, 1.10), "db_lo": 49.985, "db_hi": 50.4,
        "droop_pct": 10.0, "response_s": 1.0, "ramp_pct_s": 1.0, "rocof_hz_s": 1.0,
        "qv": (0.90, 0.95, 1.05, 1.10, 44.0),
        "trip": {"uf": (47.5, 20.0), "of": (52.0, 0.5), "uv": ((0.05, 0.25), (0.8, 2.5)),
                 "ov": ((1.14, 1.0), (1.19, 0.5))},
        "frt": ((0.05, 0.15), (0.3, 0.15)),
    },
    "EN50549-LFSM": {
        "f_band_hz": (47.5, 51.5), "v_band_pu": (0.85, 1.10), "db_lo": 49.8, "db_hi": 50.2,
        "droop_pct": 5.0, "response_s": 2.0, "ramp_pct_s": 10.0 / 60, "rocof_hz_s": 2.0,
        "qv": (0.90, 0.95, 1.05, 1.10, 44.0),
        "trip": {"uf": (47.5, 0.1), "of": (51.5, 0.1), "uv": ((0.05, 0.25), (0.3, 0.6), (0.85, 3.0)),
                 "ov": ((1.10, 1.0), (1.20, 0.1))},
        "frt": ((0.05, 0.15), (0.15, 0.25), (0.3, 0.15)),
    },
    "IEEE1547-CatII": {
        "f_band_hz": (58.8, 61.2), "v_band_pu": (0.88, 1.10), "db_lo": 59.964, "db_hi": 60.036,
        "droop_pct": 5.0, "response_s": 5.0, "ramp_pct_s": 100.0 / 300, "rocof_hz_s": 2.0,
        "qv": (0.92, 0.98, 1.02, 1.08, 44.0),
        "trip": {"uf": (56.5, 0.16), "of": (62.0, 0.16), "uv": ((0.45, 0.16), (0.70, 10.0)),
                 "ov": ((1.10, 2.0), (1.20, 0.16))},
        "frt": ((0.3, 0.16), (0.5, 0.32)),
        "f_nom_hz": 60.0,
    },
}
DROOP_RANGE_PCT = (2.0, 12.0)  # EN 50549 / RfG settable range
DEFAULT = "ENTSO-E"


def get(name):
    p = PROFILES.get(name)
    if p is None:
        raise ValueError("unknown grid-code profile %r (have %s)" % (name, ", ".join(sorted(PROFILES))))
    return p
