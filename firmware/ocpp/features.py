# Wires the optional parts of the station into a Client: transactions and
# meter values, smart charging (limit -> POWER_MGR), reservations, and the
# ISO 15118 bridge (IPC from the ISO15118 service).
def install(cl, meter_source=None):
    # meter_source: what the energy registers are read from (power/gridmeter.py on the gateway)
    from ocpp import transaction, smart_charging, reservations, iso15118_bridge
    transaction.install(cl, meter_source)
    sc = smart_charging.SmartCharging(cl)
    cl.sc = sc
    cl.power_mgr = cl.ctx.sid_of("POWER_MGR")
    cl.ticks.append(sc.tick)
    reservations.install(cl)
    iso15118_bridge.install(cl)
