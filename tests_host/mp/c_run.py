# The gateway simulation (i_run: whole V2G table, grid plant, simulated EV) with the CAN bus's
# controller state forced at given times (error-passive, bus-off, back to error-active), as a
# transceiver fault would: BUS = [(ms after boot, board.CAN_* state), ...]. Prints RESULT <json>.
import board
import i_run

BUS = []
_Base = i_run.TriggerKernel


class CanKernel(_Base):
    def _housekeeping(self, now):
        _Base._housekeeping(self, now)
        t = self.ticks_diff(now, self.boot_ms)
        while BUS and BUS[0][0] <= t:
            board.can_sim_state(BUS.pop(0)[1])


def run(argv, ev=None, bus=(), cap=None):
    BUS[:] = sorted(bus)
    i_run.TriggerKernel = CanKernel
    i_run.run(argv, 0, "ChargeLoop", cap, ev)
