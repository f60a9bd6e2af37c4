# ISO 15118 transport: V2GTP framing (v2gtp), SDP (sdp codec, sdp_server, sdp_client), IPv6 link-local
# addressing of a named interface (netif), TCP and TLS endpoints (stream). docs/iso15118_transport.md.
