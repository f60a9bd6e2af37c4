"""EXI codec for the V2G messages (App Protocol handshake, DIN 70121, ISO 15118-2 and -20)."""
