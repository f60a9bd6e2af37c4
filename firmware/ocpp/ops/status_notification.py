# StatusNotification (G01): connector status, on change and after registration
# or an outage longer than OfflineThreshold.
from ocpp import clock

STATUSES = ("Available", "Occupied", "Reserved", "Unavailable", "Faulted")


def send(cl, evse, connector, status):
    cl.conn_status[evse] = status
    cl.call("StatusNotification", {"timestamp": clock.iso(), "connectorStatus": status,
                                   "evseId": evse, "connectorId": connector})


def all_connectors(cl):
    for evse in range(1, cl.connectors + 1):
        send(cl, evse, 1, cl.conn_status.get(evse, "Available"))
