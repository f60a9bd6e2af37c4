# ISO 15118 stack of the ISO15118 service (spec §6): transport (SDP, V2GTP, TCP/TLS), session capture.
# The EXI codec lives in firmware/exi; sessions build on both.
