# Frozen into the JEZGRO unix port: what the standard variant freezes (ssl, asyncio, ...).
include("$(PORT_DIR)/variants/manifest.py")  # noqa: F821 (manifest.py builtins)
include("$(MPY_DIR)/extmod/asyncio")  # noqa: F821
