include("$(PORT_DIR)/boards/manifest.py")
require("bundle-networking")
