# Wires the optional parts of the station into a Client: the transaction
# manager (ocpp.transaction) for IPC and periodic meter values.
def install(cl):
    from ocpp import transaction
    transaction.install(cl)
