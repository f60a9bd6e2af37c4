# JEZGRO_H743: the NUCLEO-H743ZI board definition of MicroPython v1.28.0 (ports/stm32/boards/
# NUCLEO_H743ZI, copied unchanged apart from this file and mpconfigboard.h's name) with the JEZGRO-GW
# firmware frozen in (boards/stm32h743/manifest.py), mbedTLS with TLS 1.3
# (boards/micropython/mbedtls) and lwIP with IPv6 (boards/micropython/patches). Built by
# `jezgro firmware build --target stm32` (docs/platform.md).
USE_MBOOT ?= 0

# MCU settings
MCU_SERIES = h7
CMSIS_MCU = STM32H743xx
MICROPY_FLOAT_IMPL = double
AF_FILE = boards/stm32h743_af.csv

ifeq ($(USE_MBOOT),1)
# When using Mboot everything goes after the bootloader
LD_FILES = boards/stm32h743.ld boards/common_bl.ld
TEXT0_ADDR = 0x08020000
else
# When not using Mboot everything goes at the start of flash
LD_FILES = boards/stm32h743.ld boards/common_basic.ld
TEXT0_ADDR = 0x08000000
endif

# MicroPython settings
MICROPY_PY_LWIP = 1
MICROPY_PY_SSL = 1
MICROPY_SSL_MBEDTLS = 1
MICROPY_VFS_LFS2 = 1
MICROPY_HW_ENABLE_ISR_UART_FLASH_FUNCS_IN_RAM = 1
# lwIP dual stack (patches/stm32-lwip-ipv6.patch makes the port's lwipopts.h and eth.c IPv6-aware):
# ISO 15118 needs IPv6 link-local addresses, MLD and the all-nodes multicast group for SDP.
CFLAGS_EXTRA += -DLWIP_IPV6=1

JEZGRO_DIR := $(abspath $(BOARD_DIR)/../../..)
FROZEN_MANIFEST ?= $(JEZGRO_DIR)/boards/stm32h743/manifest.py
include $(BOARD_DIR)/../mbedtls/tls13.mk

# Flash tool configuration
OPENOCD_CONFIG = boards/openocd_stm32h7_dual_bank.cfg
