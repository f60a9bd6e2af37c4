// JEZGRO-GW mbedTLS configuration: the port's own configuration plus TLS 1.3.
//
// Why: ISO 15118-20 requires TLS 1.3, and MicroPython's mbedtls_config_port.h (every port)
// enables TLS 1.2 only. The same file is used by the unix port (simulation, host tests) and by
// the JEZGRO_H743 board image, so both negotiate the same protocol versions and suites.
// TLS 1.2 stays on: ISO 15118-2 and OCPP security profiles 2/3 with older CSMSs use it.
// Selected with MBEDTLS_CONFIG_FILE; tls13.mk adds the TLS 1.3 and PSA sources the
// port Makefiles do not compile.
#ifndef JEZGRO_MBEDTLS_CONFIG_H
#define JEZGRO_MBEDTLS_CONFIG_H

// The 32-bit unix port for memory measurements (boards/micropython/jezgro_unix32, jezgro_host.mem32) takes
// mbedTLS's memory from the GC heap as the board does (the "bare metal" hooks, m_tracked_calloc), not
// from libc: a TLS connection's record buffers (16 KB in, 4 KB out) and handshake state then count in
// the measured heap and its fragmentation. libc entropy as the unix coverage build has it.
#if defined(JEZGRO_MBEDTLS_GC_HEAP)
#define MICROPY_MBEDTLS_CONFIG_BARE_METAL (1)
#endif

// The port's configuration (ports/<port>/mbedtls/mbedtls_config_port.h, on the port's include path).
#include "mbedtls/mbedtls_config_port.h"

#if defined(JEZGRO_MBEDTLS_GC_HEAP)
#undef MBEDTLS_ENTROPY_HARDWARE_ALT
#undef MBEDTLS_NO_PLATFORM_ENTROPY
#endif

#define MBEDTLS_SSL_PROTO_TLS1_3
// Without the middlebox-compatibility ChangeCipherSpec records, handshakes with OpenSSL peers fail
// with MBEDTLS_ERR_SSL_INVALID_RECORD (measured: shared/vendor/micropython/README.md).
#define MBEDTLS_SSL_TLS1_3_COMPATIBILITY_MODE
#define MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_EPHEMERAL_ENABLED
// mbedTLS 3.6's TLS 1.3 code requires it (check_config.h).
#define MBEDTLS_SSL_KEEP_PEER_CERTIFICATE
// TLS 1.3 runs its key schedule and ECDHE through PSA (modtls_mbedtls.c calls psa_crypto_init()).
#define MBEDTLS_PSA_CRYPTO_C
#define MBEDTLS_HKDF_C
// RSA-PSS: the TLS 1.3 signature scheme for RSA certificates (CSMS certificates are often RSA).
#define MBEDTLS_PKCS1_V21
// x25519: the first key share most TLS 1.3 peers send (saves a HelloRetryRequest round trip).
#define MBEDTLS_ECP_DP_CURVE25519_ENABLED
// No PSA persistent key storage: keys live in the TLS context only.
#undef MBEDTLS_PSA_CRYPTO_STORAGE_C
// Few PSA key slots: one TLS connection at a time needs a handful (saves RAM on the board).
#define MBEDTLS_PSA_KEY_SLOT_COUNT 16

#endif // JEZGRO_MBEDTLS_CONFIG_H
