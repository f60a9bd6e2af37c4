"""exigen: the official V2G XSDs -> compact EXI grammar tables for firmware/exi (host side, CPython)."""
