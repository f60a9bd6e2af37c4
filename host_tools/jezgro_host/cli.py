"""The one `jezgro` command: services, sim, logs, check, build, deploy, bench."""
from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="jezgro", description="JEZGRO-GW host tools")
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("services", help="print a service table with its totals")
    s.add_argument("config", choices=["v2g", "bridge"])
    s.add_argument("--json", action="store_true")

    s = sub.add_parser("sim", help="run the gateway simulation on the unix port")
    s.add_argument("--config", default="v2g", choices=["v2g", "bridge"])
    s.add_argument("--seconds", type=float, default=10.0, help="simulated seconds (default 10)")
    s.add_argument("--wall", action="store_true", help="wall-clock time instead of virtual time")
    s.add_argument("--inject", action="append", default=[], metavar="SERVICE:KIND@T",
                   help="fault injection, KIND one of crash|hang|oom|stall, T in seconds (e.g. iso15118:crash@5s)")
    s.add_argument("--out", default="sim_out", help="output directory (summary.json, filesystem)")
    s.add_argument("--heap", default="1M", help="MicroPython heap size (unix objects are ~1.5-2x the board's)")
    s.add_argument("--quiet", action="store_true", help="no live status")
    s.add_argument("--scenario", default=None, help="grid scenario (boards/unix/scenarios/NAME.json) or none")
    s.add_argument("--ev", default=None, metavar="PROTOCOL",
                   help="the simulated EV (our EVCC) against the SECC over loopback: din, iso2-dc, iso2-ac, "
                        "iso20-dc-bpt, iso20-ac-bpt, or none (default iso2-ac)")
    s.add_argument("--ev-at", default=None, metavar="S", help="plug-in time of the simulated EV, s (default 1)")
    s.add_argument("--ev-loops", default=None, metavar="N", help="its charge-loop requests (default 30)")
    s.add_argument("--pcap", default=None, metavar="NAME",
                   help="the SECC captures SDP and its sessions to OUT/fs/NAME (pcapng, for Wireshark)")
    s.add_argument("--csms", default=None, metavar="URL",
                   help="OCPP_CLIENT connects to this CSMS (default: a local `jezgro csms` started for the run)")
    s.add_argument("--no-csms", action="store_true",
                   help="no CSMS: OCPP_CLIENT stays offline and the run can use virtual time")
    s.add_argument("--station-id", default="JEZGRO-SIM")
    s.add_argument("--security-profile", default=None, choices=["0", "1", "2", "3"])
    s.add_argument("--password", default=None, help="Basic auth password (profiles 1 and 2)")
    s.add_argument("--ca", default=None, help="CA certificate for the CSMS's TLS certificate (profiles 2, 3)")
    s.add_argument("--cert", default=None, help="client certificate (profile 3)")
    s.add_argument("--key", default=None, help="client key (profile 3)")

    s = sub.add_parser("logs", help="read the audit log (simulation directory or a board)")
    s.add_argument("--dir", default="sim_out/fs", help="filesystem root holding audit.log")
    s.add_argument("--board", action="store_true", help="fetch the log from an attached board via mpremote")
    s.add_argument("--json", action="store_true", help="JSON Lines instead of a table")

    sub.add_parser("check", help="target gate: mpy-cross armv7emdp + mypy against the stm32 stubs")
    s = sub.add_parser("build", help="compile firmware/ and boards/stm32h743/ to .mpy under build/stm32h743")
    s.add_argument("--out", default="build/stm32h743")
    s = sub.add_parser("deploy", help="copy the build to an attached board with mpremote")
    s.add_argument("--device", default=None, help="mpremote device (default: auto)")
    s.add_argument("--build-dir", default="build/stm32h743")
    s = sub.add_parser("bench", help="kernel benchmarks against same-run baselines")
    s.add_argument("--json", action="store_true")

    # -- exi (host_tools/jezgro_host/exi_cmd.py) --
    from . import exi_cmd
    exi_cmd.add_parser(sub)

    # -- grid-test, pll-replay (host_tools/jezgro_host/grid.py, pll_replay.py) --
    from . import grid as grid_cmd
    grid_cmd.add_parser(sub)

    # -- csms (host_tools/jezgro_host/csms.py) --
    from . import csms as csms_cmd
    csms_cmd.add_parser(sub)

    # -- ev (host_tools/jezgro_host/ev.py) --
    from . import ev as ev_cmd
    ev_cmd.add_parser(sub)

    # -- msgs (host_tools/jezgro_host/msgs_cmd.py) --
    from . import msgs_cmd
    msgs_cmd.add_parser(sub)

    a = p.parse_args(argv)
    if getattr(a, "func", None) is not None:
        return a.func(a)
    if a.cmd == "services":
        from . import services_table
        return services_table.main(a.config, a.json)
    if a.cmd == "sim":
        from . import sim
        return sim.main(a)
    if a.cmd == "logs":
        from . import logs
        return logs.main(a)
    if a.cmd in ("check", "build", "deploy"):
        from . import target
        return getattr(target, a.cmd)(a)
    if a.cmd == "bench":
        from . import bench
        return bench.main(a)
    if a.cmd == "exi":
        return exi_cmd.main(a)
    if a.cmd in ("grid-test", "pll-replay"):
        return grid_cmd.main(a)
    if a.cmd == "csms":
        return csms_cmd.run(a)
    if a.cmd == "ev":
        return ev_cmd.main(a)
    return 2


if __name__ == "__main__":
    sys.exit(main())
