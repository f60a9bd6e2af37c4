"""JEZGRO-GW host tools (CPython): one `jezgro` CLI for build, deploy, simulation, logs."""
