# Grid-connected inverter plant for the unix board (simulation only: floats
# are fine here, this never runs on the target). See plant/model.py.
