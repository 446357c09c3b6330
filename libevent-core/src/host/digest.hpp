// Message digests from the system's libcrypto, loaded the first time one is needed.
//
// Only minion socket names (hash_type) and the server_id grain need a digest; a master bus, every
// event-fire and every state-event on a master never do. Linking libcrypto would make each of
// them map and relocate it at start (about a third of event-fire's start-up, issue 4), so it is
// opened with dlopen on first use instead. The headers still come from the libcrypto package the
// build found, so the types and names are OpenSSL's own.
#pragma once

#include <string>
#include <string_view>

#include "tagbus/result.hpp"

namespace tagbus::inline v0::detail {

/// The raw digest of `data` under OpenSSL's algorithm `openssl_name` ("SHA256", "BLAKE2B-512"...).
/// Errors: errc::io when libcrypto cannot be loaded (a file missing), errc::config when it does not
/// provide the algorithm.
result<std::string> digest(const char* openssl_name, std::string_view data);

/// The 32-byte Ed25519 public key of a 32-byte seed (a NATS nkey's), from the same libcrypto.
/// Errors: errc::io (libcrypto missing), errc::config (no Ed25519 in it), errc::data (not 32 bytes).
result<std::string> ed25519_public_key(std::string_view seed);

}  // namespace tagbus::detail
