# Gateway simulation entry point, run under the MicroPython unix port by
# `jezgro sim` (MICROPYPATH=firmware:boards/unix). Boots a service table,
# applies scheduled fault injections, prints STATUS lines while it runs and a
# SUMMARY line (JSON) at the end; `jezgro sim` renders both.
#
#   simmain.py [--config v2g|bridge] [--seconds S] [--wall] [--fs DIR]
#              [--inject SERVICE:KIND@SECONDS ...] [--status-ms MS]
#              [--scenario NAME|none]   grid plant (boards/unix/scenarios/NAME.json)
#                                       stepped before every tick; default: clean_grid
#              [--csms URL --station-id ID [--security-profile N] [--password P]
#               [--ca FILE] [--cert FILE] [--key FILE]]   OCPP_CLIENT's CSMS (implies --wall unless --paced)
#              [--ev PROTOCOL|none] [--ev-at S] [--ev-loops N]   the simulated EV (ev_sim.py, our EVCC)
#                                       against ISO15118 over loopback; default iso2-ac at 1 s, 30 loops
#              [--pcap NAME]            the SECC captures SDP and sessions to <fs>/NAME (pcapng), the
#                                       SLAC service every HomePlug frame to <fs>/NAME.slac.pcap
#              [--ev-unplug-after S]    the cable is pulled S after plug-in, whatever the EV is doing
#              [--ev-no-slac]           the EV skips SLAC (a plain-Ethernet EV on a SLAC charger)
#              [--no-slac]              no control-pilot matching: the SECC listens at once (plain
#                                       Ethernet, as before); default: the EV matches with SLAC first
#              [--paced]                virtual time held back to the wall clock (external CAN peers)
#              [--station FILE]         a scripted station controller on the CAN bus (station_sim.py)
#              [--stop-file NAME]       end the run (summary as usual) once <fs>/NAME exists, checked
#                                       with every STATUS: a clean stop for tests driving a --wall run
#              [--ev soak]              EV sessions of every protocol back to back (DIN, -2 DC/AC, -20 DC/AC
#                                       BPT in turn), --ev-gap S between them (`jezgro soak`)
#              [--chaos SEED:MEAN_S]    random faults (crash, hang, oom, stall) in random gateway services at
#                                       random times, MEAN_S apart on average (exponential), seeded
#              [--scenarios A,B,..:S]   the grid scenario changes every S seconds, in turn
#              [--heap-probe]           STATUS heap has the largest free block too (`python -m jezgro_host.mem32`)
#              [--csms-sim EVERY:FOR]   OCPP_CLIENT's CSMS in this process (csms_sim.py, virtual time works): it
#                                       goes away every EVERY s for FOR s (0:0 never); the summary compares
#                                       the TransactionEvents queued with those received (txledger.py)
import sys
import os
import json
import gc
import board
from jezgro.kernel import Kernel
from jezgro.faults import KINDS

DEFAULTS = {"config": "v2g", "config-module": "", "seconds": "10", "fs": "sim_fs",
            "status-ms": "1000", "hwwdt-ms": "2000", "scenario": "clean_grid",
            "csms": "", "station-id": "JEZGRO-SIM", "security-profile": "", "password": "", "ca": "",
            "cert": "", "key": "", "ev": "iso2-ac", "ev-at": "1", "ev-loops": "30",
            "pcap": "", "station": "", "stop-file": "", "ev-unplug-after": "", "ev-gap": "5",
            "chaos": "", "scenarios": "", "csms-sim": ""}


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def parse(argv):
    opts = dict(DEFAULTS)
    opts["inject"] = []
    opts["wall"] = False
    opts["paced"] = False
    opts["no-slac"] = False
    opts["ev-no-slac"] = False
    opts["heap-probe"] = False
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--wall":
            opts["wall"] = True
        elif a == "--paced":
            opts["paced"] = True
        elif a == "--no-slac":
            opts["no-slac"] = True
        elif a == "--ev-no-slac":
            opts["ev-no-slac"] = True
        elif a == "--heap-probe":
            opts["heap-probe"] = True
        elif a.startswith("--") and i + 1 < len(argv):
            key = a[2:]
            if key == "inject":
                opts["inject"].append(argv[i + 1])
            elif key in DEFAULTS:
                opts[key] = argv[i + 1]
            else:
                raise SystemExit("unknown option " + a)
            i += 1
        else:
            raise SystemExit("bad argument " + a)
        i += 1
    return opts


def parse_injection(spec, table):
    # "iso15118:crash@5" or "iso15118:crash@5s" -> (at_ms, sid, kind, text)
    try:
        who, rest = spec.split(":", 1)
        kind, at = rest.split("@", 1)
        at_ms = int(float(at.rstrip("s")) * 1000)
    except ValueError:
        raise SystemExit("bad --inject %r: want SERVICE:KIND@SECONDS" % spec)
    if kind not in KINDS:
        raise SystemExit("bad --inject %r: kind must be one of %s" % (spec, ", ".join(sorted(KINDS))))
    for s in table:
        if s.name.lower() == who.lower():
            return [at_ms, s.sid, KINDS[kind], spec]
    raise SystemExit("bad --inject %r: no service %r in this configuration" % (spec, who))


def mkdirs(path):
    try:
        os.mkdir(path)
    except OSError:
        pass


def emit(tag, obj):
    # json.dump streams: the summary never needs one contiguous block of its whole size (a 1 MB heap
    # late in a long run is fragmented)
    sys.stdout.write(tag + " ")
    json.dump(obj, sys.stdout)
    sys.stdout.write("\n")


def main(argv):
    opts = parse(argv)
    modname = opts["config-module"] or "config." + opts["config"]
    cfg = __import__(modname)
    for part in modname.split(".")[1:]:
        cfg = getattr(cfg, part)
    table = cfg.TABLE
    board.FS_ROOT = opts["fs"]
    mkdirs(opts["fs"])
    if _sid(table, "ISO15118") >= 0:
        table = _with_ev(table, opts)
    if opts["station"]:
        import station_sim
        station_sim.load(opts["station"])
        table = tuple(table) + (station_sim.spec(len(table)),)
    if opts["csms-sim"]:
        table = _with_csms_sim(table, opts)
    injections = sorted(parse_injection(s, table) for s in opts["inject"])
    if opts["csms"]:  # OCPP_CLIENT talks to a real CSMS: real sockets need wall-clock time
        from ocpp import config as ocpp_config
        try:
            ocpp_config.provision(opts["fs"], opts)
        except ocpp_config.ConfigError as e:
            raise SystemExit("--csms: %s" % e)
        if not opts["paced"]:  # paced virtual time never runs ahead of the CSMS's clock either
            opts["wall"] = True
    if _exists(opts["fs"] + "/ocpp.json"):  # provisioned here or by `jezgro sim`/`jezgro provision`
        _sim_device_model(opts["fs"])
    total_ms = int(float(opts["seconds"]) * 1000)
    status_ms = int(opts["status-ms"])
    virtual = not opts["wall"]
    board.configure(virtual, paced=opts["paced"])
    from ocpp import clock as ocpp_clock
    ocpp_clock.source = board.rtc_seconds  # OCPP's timestamps and intervals on the simulated RTC
    if opts["scenario"] != "none":
        try:
            from plant import scenario  # the grid the power path runs against (issue 3)
            scenario.install(opts["scenario"])
        except MemoryError as e:  # the plant's tables come first: a heap too small for them is said so
            _kernel_oom("installing the grid plant %s" % opts["scenario"], e, "the simulation")
    state = {"elapsed": 0, "next_status": 0, "boots": 0, "applied": []}
    stop_file = opts["fs"] + "/" + opts["stop-file"] if opts["stop-file"] else ""

    def housekeeping(k, now):
        t = state["elapsed"] + k.ticks_diff(now, k.boot_ms)
        while injections and injections[0][0] <= t:
            at, sid, kind, text = injections.pop(0)
            ok = k.inject(sid, kind)
            state["applied"].append({"t_ms": t, "inject": text, "applied": ok})
            emit("INJECT", {"t_ms": t, "inject": text, "applied": ok})
        if chaos is not None:
            chaos.step(k, t, emit)
        if grids is not None:
            grids.step(t, emit)
        if t >= state["next_status"]:
            state["next_status"] += status_ms
            if stop_file and _exists(stop_file):
                k.stop()  # not SIGINT: an interrupt landing in a tick (heap locked) cannot be reported
            k.note_heap()
            _write_status(k, opts["fs"], t, state)
            emit("STATUS", {"t_ms": t, "ticks": k.critical.ticks, "gateway": _gateway_state(k),
                            "services": [[s.name, s.state, s.restarts] for s in k.services[1:]],
                            "power": _power_state(k), "grid": _grid_state(), "limits": _limits(k),
                            "ocpp": _ocpp_state(k), "heap": _heap(opts), "plant": _plant(opts),
                            "missed": k.critical.missed + state["missed"]})

    state["missed"] = 0  # CRITICAL ticks missed by earlier boots of this run
    chaos = None
    if opts["chaos"]:
        import chaos as chaos_mod
        chaos = chaos_mod.Chaos(opts["chaos"], table)
    grids = None
    if opts["scenarios"]:
        import chaos as chaos_mod
        grids = chaos_mod.Grids(opts["scenarios"])
    kernel = None
    reboots = []
    while state["elapsed"] < total_ms:
        state["phase"] = "building the kernel (IPC pool, service table)"
        try:
            kernel = Kernel(table, board, audit_sid=_sid(table, "AUDIT_LOGGER"),
                            safe_state_sid=cfg.SAFE_STATE_OWNER, hwwdt_ms=int(opts["hwwdt-ms"]),
                            fault_sids=[s for s in (_sid(table, "CAN_HANDLER"),) if s >= 0])
            kernel.on_housekeeping = housekeeping
            state["phase"] = "booting the services"
            kernel.boot()
        except MemoryError as e:
            _kernel_oom(state["phase"], e)
        state["boots"] += 1
        started = kernel.ticks_ms()
        ended = False  # run() returned: the time is up or the kernel was stopped (no reboot)
        try:
            state["phase"] = "scheduling the services"
            kernel.run(total_ms - state["elapsed"])
            kernel.drain_audit()
            ended = True
        except MemoryError as e:
            _kernel_oom(state["phase"], e)
        except board.SystemReset as e:
            # what the boot that ends here did, for a run's totals (the soak): its summary is gone with it
            reboots.append({"t_ms": state["elapsed"] + kernel.ticks_diff(kernel.ticks_ms(), started),
                            "reason": str(e), "ticks_missed": kernel.critical.missed,
                            "restarts": dict((s.name, s.restarts) for s in kernel.services[1:]),
                            "quarantined": kernel.supervisor.quarantined,
                            "audit": {"sent": kernel.audit_sent, "lost": kernel.audit_lost,
                                      "written": _audit_written(kernel)}})
            state["missed"] += kernel.critical.missed
            board.configure(virtual, e.cause)
        except KeyboardInterrupt:
            # Ctrl-C: stop here but still report what happened so far.
            state["interrupted"] = True
            total_ms = 0
        finally:
            board.stop_hang_watch()
        state["elapsed"] += kernel.ticks_diff(kernel.ticks_ms(), started)
        if ended:
            break
    kernel.note_heap()
    gc.collect()
    summary = kernel.summary()
    summary["config"] = cfg.NAME
    summary["mode"] = ("paced" if opts["paced"] else "virtual") if virtual else "wall"
    summary["sim_ms"] = state["elapsed"]
    summary["boots"] = state["boots"]
    summary["reboots"] = reboots
    summary["injections"] = state["applied"] if chaos is None else state["applied"][-50:]
    if chaos is not None:
        summary["chaos"] = chaos.report()
    if grids is not None:
        summary["grids"] = grids.report()
    summary["interrupted"] = state.get("interrupted", False)
    iso = _published(kernel, "ISO15118")
    if iso is not None:
        summary["iso15118"] = iso.status()
        for h in summary["iso15118"]["history"]:
            # one line per SECC session for the live output (`jezgro sim` prints untagged lines as is)
            sys.stdout.write("ISO15118 session %d: %s, %d messages, %.1f Wh, %s%s\n" % (
                h["serial"], h["protocol_name"], h["messages"], h["energy_wh"], h["end"],
                (" (" + h["detail"] + ")") if h["detail"] else ""))
    can = _published(kernel, "CAN_HANDLER")
    if can is not None:
        summary["can"] = can.status()
    if _sid(table, "TRANSLATOR") >= 0:
        summary["bridge"] = _bridge(kernel)
    if opts["station"]:
        import station_sim
        summary["station"] = station_sim.OUT
    if opts["scenario"] != "none":
        from plant import scenario
        pl = scenario.PLANT
        # the energy that really flowed at the PCC (the plant's truth, across reboots): what the
        # gateway's meter (grid/energy.py -> OCPP_CLIENT's registers) is checked against
        summary["plant"] = {"import_wh": round(pl.e_imp_j / 3600, 3), "export_wh": round(pl.e_exp_j / 3600, 3)}
        # the gateway's tick-integrated counters (grid/energy.py) at the same instant, before any reader
        from grid import energy
        summary["plant"]["tick_wh"] = [round(energy.EN[energy.IMP_J] / 3600, 3),
                                       round(energy.EN[energy.EXP_J] / 3600, 3)]
    if _sid(table, "EV_SIM") >= 0:
        import ev_sim
        summary["ev"] = ev_sim.OUT
    slac = _published(kernel, "SLAC")
    if slac is not None:
        summary["slac"] = slac.status()
        _slac_line(summary["slac"])
    if opts["csms-sim"]:
        import csms_sim
        import txledger
        summary["csms_sim"] = csms_sim.CSMS.status()
        summary["txledger"] = txledger.LEDGER.finish(_undelivered(kernel, opts["fs"]))
    emit("SUMMARY", summary)
    return summary


def _plant(opts):
    # the energy that flowed at the PCC so far, J [import, export] (the plant's truth, not the
    # gateway's meter): differences between STATUS lines give the plant's measured power trace
    if opts["scenario"] == "none":
        return None
    from plant import scenario
    pl = scenario.PLANT
    return [round(pl.e_imp_j), round(pl.e_exp_j)]


def _heap(opts):
    # live heap after the status's collection: [used, free] (+ the largest free block with --heap-probe:
    # fragmentation, probed with trial allocations, jezgro/heapinfo.py)
    if opts["heap-probe"]:
        from jezgro import heapinfo
        return [gc.mem_alloc(), gc.mem_free(), heapinfo.largest_free()]
    return [gc.mem_alloc(), gc.mem_free()]


def _audit_written(k):
    # kernel events AUDIT_LOGGER put on the filesystem this boot (its store survives its restarts)
    for s in k.services:
        if s.name == "AUDIT_LOGGER":
            return s.store.get("kernel_events", 0)
    return 0


def _kernel_oom(phase, exc, who="the kernel"):
    # Out of memory outside any service (the kernel itself): nothing can run on, but the run ends
    # saying where and how the heap stood, not with a bare traceback. A heap left locked (an
    # asynchronous exception through a heap_lock()ed section: the soak met one) is unlocked first so
    # that the report can be made, and said.
    import micropython
    depth = micropython.heap_unlock()  # the depth left; it wraps (huge) when it was not locked at all
    locked = depth + 1 if depth < 256 else 0
    if not locked:
        micropython.heap_lock()  # it was not locked: undo
    while depth > 0:
        depth = micropython.heap_unlock()
    from jezgro import heapinfo
    from jezgro.kernel import format_exc
    gc.collect()
    lines = format_exc(exc).rstrip().split("\n")  # the innermost frame and the allocation that failed
    raise SystemExit("out of memory in %s while %s%s (%s: %s); %s" % (
        who, phase, " (the heap was left locked %d deep)" % locked if locked else "",
        lines[-2].strip() if len(lines) > 1 else "?", lines[-1], heapinfo.describe(heapinfo.state())))


def _slac_line(st):
    # one line for the live output: the pilot's path and the match
    cp = "-".join([h[1] for h in st["cp_history"]]) or st["cp"]
    mt = st["matches"][-1] if st["matches"] else None
    sys.stdout.write("SLAC: CP %s; %s\n" % (cp, "matched %s in %d ms at %d dB" % (mt["ev_mac"], mt["ms"], mt["atten_db"])
                                            if mt else "no match (%s)" % (st["plc_error"] or (st["slac"] or {}).get("state"))))


def _slac_provision(opts, ev_sim):
    # <fs>/slac.json for the SLAC service on the simulation's link (unless the fs has its own): random
    # locally administered MACs, so parallel simulations on the loopback device do not match each other
    # (the simulated modem only hears our EV)
    path = opts["fs"] + "/slac.json"
    r = os.urandom(8)
    evse = "02:%02x:%02x:%02x:%02x:01" % (r[0], r[1], r[2], r[3])
    ev = "02:%02x:%02x:%02x:%02x:02" % (r[4], r[5], r[6], r[7])
    ev_sim.CFG["mac"] = ev
    ev_sim.CFG["slac"] = True
    # Wall-clock runs match over a raw socket on the loopback device. Virtual time jumps to the next
    # deadline whenever nothing is ready, and a frame the kernel has not delivered yet (softirq work
    # deferred on a loaded host) would then arrive "late" by whole timeouts: virtual runs use the
    # in-process wire, which delivers in order at once.
    wall = opts["wall"] or bool(opts["csms"])
    ev_sim.CFG["slac_iface"] = ev_sim.CFG["iface"] if wall else "mem:" + ev_sim.CFG["iface"]
    c = {"iface": ev_sim.CFG["slac_iface"], "mac": evse, "sim_atten": {ev: 20}}
    if opts["pcap"]:
        c["pcap"] = opts["pcap"] + ".slac.pcap"
    if not _exists(path):
        with open(path, "w") as f:
            f.write(json.dumps(c))
    else:
        with open(path) as f:
            mine = json.loads(f.read())
        if mine.get("mac") and mine.get("sim_atten"):
            ev_sim.CFG["mac"] = list(mine["sim_atten"])[0]


def _sim_device_model(fs):
    # The simulated station authorizes its EV by Autocharge (the EVCCID as a MacAddress idToken, checked
    # with the CSMS): nobody stands at a simulated charger with a card. Unless the fs has its own.
    path = fs + "/ocpp_dm.json"
    try:
        os.stat(path)
    except OSError:
        with open(path, "w") as f:
            f.write(json.dumps({"AuthCtrlr.AutochargeEnabled": "true"}))


def _with_ev(table, opts):
    # The gateway's SECC on the loopback (provisioned unless the fs has its own iso15118.json) and,
    # unless --ev none, the simulated EV as one more (LOW) service; with SLAC (unless --no-slac) the
    # SECC waits for the match.
    import ev_sim
    from iso15118.secc import service_config
    # SLAC only with our simulated EV: an outside EV (--ev none: the iso15118 package's EVCC, jezgro ev
    # on the loopback) has no SLAC of its own here, and a gated SECC would never answer it
    slac = not opts["no-slac"] and opts["ev"] != "none" and _sid(table, "SLAC") >= 0
    if slac:
        _slac_provision(opts, ev_sim)
    path = opts["fs"] + "/" + service_config.FILE
    try:
        os.stat(path)
    except OSError:
        with open(path, "w") as f:
            f.write(json.dumps(ev_sim.secc_config(ev_sim.CFG["iface"], slac)))
    if opts["pcap"]:  # --pcap NAME: the SECC captures SDP and sessions to <fs>/NAME
        with open(path) as f:
            c = json.loads(f.read())
        c["pcapng"] = opts["pcap"]
        with open(path, "w") as f:
            f.write(json.dumps(c))
    if opts["ev"] == "none":
        return table
    from iso15118.evcc.session import PROTOCOL_NAMES
    if opts["ev"] == "soak":  # every protocol in turn, back to back
        ev_sim.CFG["protocols"] = ["din", "iso2-dc", "iso2-ac", "iso20-dc-bpt", "iso20-ac-bpt"]
        ev_sim.CFG["repeat"] = True
        ev_sim.CFG["gap_ms"] = int(float(opts["ev-gap"]) * 1000)
    elif opts["ev"] not in PROTOCOL_NAMES:
        raise SystemExit("bad --ev %r: one of none, soak, %s" % (opts["ev"], ", ".join(sorted(PROTOCOL_NAMES))))
    else:
        ev_sim.CFG["protocols"] = [opts["ev"]]
    ev_sim.CFG["at_ms"] = int(float(opts["ev-at"]) * 1000)
    ev_sim.CFG["ev"]["loops"] = int(opts["ev-loops"])
    if opts["ev-no-slac"]:
        ev_sim.CFG["slac"] = False
    if opts["ev-unplug-after"]:
        ev_sim.CFG["unplug_after_ms"] = int(float(opts["ev-unplug-after"]) * 1000)
    return tuple(table) + (ev_sim.spec(len(table)),)


def _with_csms_sim(table, opts):
    # --csms-sim EVERY:FOR: the CSMS as one more (sim-only) service on a free loopback port, OCPP_CLIENT
    # provisioned for it (security profile 0: TLS would only slow the soak down), the ledger on the queue
    import csms_sim
    import txledger
    try:
        every, dur = opts["csms-sim"].split(":", 1)
        csms_sim.CFG["outage_every_ms"] = int(float(every) * 1000)
        csms_sim.CFG["outage_ms"] = int(float(dur) * 1000)
    except ValueError:
        raise SystemExit("bad --csms-sim %r: want EVERY_S:FOR_S (0:0: no outages)" % opts["csms-sim"])
    if opts["csms"]:
        raise SystemExit("--csms-sim and --csms exclude each other")
    port = _free_port()
    csms_sim.CFG["port"] = port
    csms_sim.CFG["log"] = opts["fs"] + "/csms_sim.jsonl"
    from jezgro import persist
    persist.remove(csms_sim.CFG["log"])
    from ocpp import config as ocpp_config
    ocpp_config.provision(opts["fs"], {"csms": "ws://127.0.0.1:%d/ocpp" % port, "station-id": opts["station-id"],
                                       "security-profile": "0"})
    txledger.install(lambda now: csms_sim.CSMS.station_state(now, txledger.GRACE_MS))
    return tuple(table) + (csms_sim.spec(len(table)),)


def _free_port():
    # a loopback TCP port nobody listens on now (MicroPython has no getsockname to ask for port 0's)
    import socket
    for _ in range(50):
        r = os.urandom(2)
        port = 20000 + ((r[0] << 8 | r[1]) % 40000)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(socket.getaddrinfo("127.0.0.1", port)[0][-1])
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise SystemExit("--csms-sim: no free loopback port found")


def _undelivered(k, fs):
    # {transactionId: [seqNo, ...]} of the TransactionEvents still in OCPP_CLIENT's queue at the end
    cl = _published(k, "OCPP_CLIENT")
    if cl is not None:
        q = cl.txq
    else:
        from ocpp.txqueue import TxQueue
        q = TxQueue(fs)
    out = {}
    for action, p in q.records():
        if action == "TransactionEvent":
            out.setdefault(p["transactionInfo"]["transactionId"], []).append(p["seqNo"])
    return out


def _bridge(k):
    # the protocol bridge per charger: its link (PROTOCOL_A), what TRANSLATOR made of its messages,
    # and the upstream station (PROTOCOL_B)
    a = _published(k, "PROTOCOL_A")
    t = _published(k, "TRANSLATOR")
    b = _published(k, "PROTOCOL_B")
    links = a.status()["chargers"] if a is not None else {}
    tr = t.status() if t is not None else {"chargers": {}}
    out = {}
    for cid in set(links) | set(tr["chargers"]):
        tc = tr["chargers"].get(cid, {})
        out[cid] = {"link": links.get(cid), "translator": tc.get("stats"), "boot": tc.get("boot"),
                    "open_tx": tc.get("open_tx")}
    up = b.status() if b is not None else None
    return {"chargers": out, "upstream": up, "handoff": {k2: v for k2, v in tr.items() if k2 != "chargers"}}


def _published(k, name):
    # the state object the service published (ctx.publish), or None
    for s in k.services:
        if s.name == name:
            return s.status.obj
    return None


def _gateway_state(k):
    # POWER_MGR owns the gateway state (spec §8.3); absent until it runs.
    pm = _published(k, "POWER_MGR")
    if pm is None:
        return ""
    from power.gateway_fsm import STATE_NAMES
    return STATE_NAMES[pm.state]


def _power_state(k):
    # The scheduled power DROOP_CTRL follows and the SECC's view of it, W (absent parts: None).
    out = {"droop_p_w": None, "iso_p_w": None, "iso_state": None, "meas_p_w": None, "meas_q_var": None,
           "iso_renewed_t_ms": None}
    pm = _published(k, "POWER_MGR")
    if pm is not None:  # measured at the converter (power/measure.py), filtered
        out["meas_p_w"] = pm.meas.p_w
        out["meas_q_var"] = pm.meas.q_var
    d = _published(k, "DROOP_CTRL")
    if d is not None:
        out["droop_p_w"] = int(d.sched_p)
    iso = _published(k, "ISO15118")
    if iso is not None:
        out["iso_p_w"] = iso.power_w
        # when the SECC last sent or renewed the EV's setpoint (simulated ms of this boot): it lapses at
        # POWER_MGR SETPOINT_VALID_MS later unless renewed
        out["iso_renewed_t_ms"] = k.ticks_diff(iso.setpoint_ms, k.boot_ms)
        live = iso.status()["live"]
        out["iso_state"] = live["state"] if live else "Idle"
    return out


def _grid_state():
    # what PLL_SYNC sees: frequency, the positive-sequence phase voltage amplitude (vd when locked,
    # peak volts; VMAG is only a within-4 % estimate for the detector), lock
    from grid import pll
    st = pll.ST
    return {"f_mhz": pll.freq_mhz(), "v_peak": st[pll.VD] >> 8, "locked": st[pll.LOCKED]}


def _limits(k):
    # POWER_MGR's view (power/status.GW): the setpoint it sends and the limits in force with their
    # sources; None until POWER_MGR has run
    from power import status as gw
    import msgs
    g = gw.GW
    if not g[gw.UPDATES]:
        return None

    def src(i):
        return msgs.SOURCE_NAMES[g[i]] if g[i] != gw.NONE else None
    return {"p_set_w": g[gw.P_SET], "set_src": src(gw.SET_SRC), "import_w": g[gw.IMP_LIM],
            "import_src": src(gw.IMP_SRC), "export_w": g[gw.EXP_LIM], "export_src": src(gw.EXP_SRC)}


def _ocpp_state(k):
    cl = _published(k, "OCPP_CLIENT")
    if cl is None:
        return None
    fb = cl.sc.fallback.status() if cl.sc is not None else None
    return {"connected": bool(cl.connected), "link": cl.link(), "queue": len(cl.txq),
            "fallback": fb["active"] if fb else None}


def _iso_state(k):
    # what `jezgro status` shows of the SECC: where it listens, what it offers, the session now
    iso = _published(k, "ISO15118")
    if iso is None:
        return None
    st = iso.status()
    last = st["history"][-1] if st["history"] else None
    return {"iface": st["iface"], "offers": st["offers"], "sessions": st["sessions"],
            "live": st["live"]["state"] if st["live"] else None,
            "last_end": last["end"] if last else None, "last_cipher": last["cipher"] if last else None}


STATUS_FILE = "status.json"
STATUS_EVERY_S = 1  # wall seconds between status.json writes (virtual time runs far faster)


def _write_status(k, fs, t, state):
    # <fs>/status.json: what `jezgro status --sim OUT` reads while the simulation runs (a board
    # would answer the same over USB); written atomically, at most once per wall second
    import time
    from jezgro import persist
    from jezgro.const import ST_NAMES
    now = time.time()
    if now - state.get("status_wall", 0) < STATUS_EVERY_S:
        return
    state["status_wall"] = now
    svcs = []
    for s in k.services[1:]:
        d = {"name": s.name, "state": ST_NAMES[s.state], "restarts": s.restarts,
             "config_error": s.status.config_error, "link_error": s.status.link_error, "oom": s.oom}
        if s.name == "OCPP_CLIENT" and s.status.obj is not None:
            d["link"] = s.status.obj.link()
        elif s.name == "ISO15118":
            d["link"] = _iso_state(k)
        svcs.append(d)
    persist.save_json(fs + "/" + STATUS_FILE, {"t_ms": t, "wall_s": now, "gateway": _gateway_state(k),
                                               "services": svcs})


def _sid(table, name):
    for s in table:
        if s.name == name:
            return s.sid
    return -1


if __name__ == "__main__":
    main(sys.argv[1:])
