# A ticks_ms clock the test moves by hand (now += ms), for units that take the service API's clock.


class Clock:
    def __init__(self):
        self.now = 0

    def ticks_ms(self):
        return self.now

    def ticks_diff(self, a, b):
        return a - b

    def ticks_add(self, a, b):
        return a + b
