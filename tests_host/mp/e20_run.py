# Runs our EVCC (iso15118.evcc.ev_sim: SDP, connect, SAP, the protocol machine) for the ISO 15118-20
# link tests under the real kernel in wall-clock time; prints RESULT <json>. Before the -20 machine is
# registered in iso15118.evcc.session.MACHINES this registers it for the run.
import e_run
from iso15118.evcc import iso20, session


def run(cfg_json, run_ms=60000):
    for ns in (iso20.ISO20_DC, iso20.ISO20_AC):
        session.MACHINES.setdefault(ns, iso20)
    e_run.run(cfg_json, run_ms)
