# Simulation only (the chaos soak, `jezgro soak`): random faults injected into the gateway's services
# and the grid scenario changed while the simulation runs. simmain calls step() from the kernel's
# housekeeping with the run's time; everything here is seeded, so a failing soak can be run again
# exactly (same seed, same simulated times).
#   Chaos("SEED:MEAN_S", table): a fault every MEAN_S seconds on average (exponential gaps), in a
#   gateway service chosen at random (not the simulated EV), of a kind chosen at random
#   (crash, hang, oom, stall). Grids("a,b,c:S"): the grid scenario changes every S seconds, in turn.
import math
from jezgro.faults import KINDS

SIM_ONLY = ("KERNEL", "EV_SIM", "CSMS_SIM")  # not the gateway: never a target


class Rng:
    # xorshift32: the same sequence on every port and every run with the same seed
    def __init__(self, seed):
        # spread the seed's bits (small seeds give small first outputs) and skip the warm-up
        self.x = ((seed * 2654435761) & 0xFFFFFFFF) or 0x9E3779B9
        for _ in range(8):
            self.next()

    def next(self):
        x = self.x
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self.x = x
        return x

    def below(self, n):
        return self.next() % n

    def unit(self):
        # (0, 1]
        return (self.next() + 1) / 4294967296.0


class Chaos:
    def __init__(self, spec, table):
        try:
            seed, mean = spec.split(":", 1)
            self.rng = Rng(int(seed))
            self.mean_ms = int(float(mean) * 1000)
        except ValueError:
            raise SystemExit("bad --chaos %r: want SEED:MEAN_SECONDS" % spec)
        if self.mean_ms <= 0:
            raise SystemExit("bad --chaos %r: the mean gap must be more than 0 s" % spec)
        self.targets = [(s.sid, s.name) for s in table if s.module and s.name not in SIM_ONLY]
        self.kinds = sorted(KINDS)
        self.count = dict((name, dict((k, 0) for k in self.kinds)) for _, name in self.targets)
        self.skipped = 0  # the service was not running (held, restarting): nothing to inject into
        self.mid_session = 0  # injected while the EV was charging (pilot state C)
        self.total = 0
        self.next_ms = self._gap()

    def _gap(self):
        return int(-math.log(self.rng.unit()) * self.mean_ms) + 1

    def step(self, k, t, emit):
        while t >= self.next_ms:
            self.next_ms += self._gap()
            sid, name = self.targets[self.rng.below(len(self.targets))]
            kind = self.kinds[self.rng.below(len(self.kinds))]
            ok = k.inject(sid, KINDS[kind])
            self.total += 1
            if not ok:
                self.skipped += 1
                continue
            self.count[name][kind] += 1
            charging = _ev_charging()
            if charging:
                self.mid_session += 1
            emit("INJECT", {"t_ms": t, "inject": "%s:%s" % (name.lower(), kind), "applied": ok,
                            "mid_session": charging})

    def report(self):
        return {"mean_s": self.mean_ms / 1000, "total": self.total, "skipped": self.skipped,
                "mid_session": self.mid_session, "per_service": self.count}


def _ev_charging():
    try:
        import pilot_sim
    except ImportError:
        return False
    return bool(pilot_sim.CP.plugged and pilot_sim.CP.s2)


class Grids:
    def __init__(self, spec):
        names, _, period = spec.rpartition(":")
        try:
            self.period_ms = int(float(period) * 1000)
        except ValueError:
            raise SystemExit("bad --scenarios %r: want NAME,NAME,...:SECONDS" % spec)
        self.names = [n for n in names.split(",") if n]
        if not self.names or self.period_ms <= 0:
            raise SystemExit("bad --scenarios %r: want NAME,NAME,...:SECONDS" % spec)
        self.next_ms = self.period_ms
        self.i = 0
        self.changes = 0
        self.now = None

    def step(self, t, emit):
        if t < self.next_ms:
            return
        self.next_ms += self.period_ms
        from plant import scenario
        name = self.names[self.i % len(self.names)]
        self.i += 1
        scenario.install(name)
        self.changes += 1
        self.now = name
        emit("GRID", {"t_ms": t, "scenario": name})

    def report(self):
        return {"changes": self.changes, "now": self.now, "period_s": self.period_ms / 1000, "names": self.names}
