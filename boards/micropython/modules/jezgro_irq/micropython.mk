# jezgro_irq: break a hung service from an interrupt (docs/reliability.md, "Hangs on the board").
# Built into the board image (JEZGRO_H743) and the emulated target (qemu MPS2_AN500) through
# USER_C_MODULES=boards/micropython/modules (host_tools/jezgro_host/firmware.py).
JEZGRO_IRQ_DIR := $(USERMOD_DIR)
SRC_USERMOD_C += $(JEZGRO_IRQ_DIR)/jezgro_irq.c
