# The station-controller CAN-FD protocol (spec §8.2): station.dbc is the contract, tables.py is
# generated from it, codec.py packs and unpacks, station.py is the protocol (no IPC, no board).
