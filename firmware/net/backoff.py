# Reconnect back-off per OCPP-J 2.0.1 §5.3: the first wait is
# RetryBackOffWaitMinimum + random(0..RetryBackOffRandomRange); each further
# failure doubles the wait, RetryBackOffRepeatTimes times, after which the last
# wait is kept. A successful connection starts the sequence again.
import random


class BackOff:
    def __init__(self, wait_min_s, random_range_s, repeat_times):
        self.wait_min_s = wait_min_s
        self.random_range_s = random_range_s
        self.repeat_times = repeat_times
        self.failures = 0
        self.rand_ms = 0

    def reset(self):
        self.failures = 0

    def next_ms(self):
        # Wait before the next attempt, in ms, after one more failure.
        if self.failures == 0:
            self.rand_ms = random.getrandbits(20) % (self.random_range_s * 1000 + 1) if self.random_range_s > 0 else 0
        doublings = self.failures if self.failures < self.repeat_times else self.repeat_times
        self.failures += 1
        return (self.wait_min_s * 1000 + self.rand_ms) << doublings
