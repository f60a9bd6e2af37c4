# Included by the JEZGRO unix variant and the JEZGRO_H743 board: TLS 1.3 with mbedTLS.
# The ports' Makefiles (extmod/extmod.mk) compile the TLS 1.2 sources only; TLS 1.3 needs its own
# handshake code and PSA crypto, which it uses for the key schedule and ECDHE.
JEZGRO_MBEDTLS_DIR := $(dir $(lastword $(MAKEFILE_LIST)))
MBEDTLS_CONFIG_FILE = \"jezgro_mbedtls_config.h\"
CFLAGS_EXTRA += -I$(abspath $(JEZGRO_MBEDTLS_DIR))
CFLAGS += -I$(abspath $(JEZGRO_MBEDTLS_DIR))
SRC_THIRDPARTY_C += $(addprefix lib/mbedtls/library/,\
	hkdf.c \
	psa_crypto.c \
	psa_crypto_aead.c \
	psa_crypto_cipher.c \
	psa_crypto_client.c \
	psa_crypto_driver_wrappers_no_static.c \
	psa_crypto_ecp.c \
	psa_crypto_ffdh.c \
	psa_crypto_hash.c \
	psa_crypto_mac.c \
	psa_crypto_pake.c \
	psa_crypto_rsa.c \
	psa_crypto_se.c \
	psa_crypto_slot_management.c \
	psa_crypto_storage.c \
	psa_its_file.c \
	psa_util.c \
	ssl_tls13_client.c \
	ssl_tls13_generic.c \
	ssl_tls13_keys.c \
	ssl_tls13_server.c \
	)
