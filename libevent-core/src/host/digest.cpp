// Lazily loaded libcrypto digests (see digest.hpp for why not linked).
#include "host/digest.hpp"

#include <dlfcn.h>
#include <openssl/evp.h>
#include <openssl/opensslv.h>

#include <mutex>

namespace tagbus::inline v0::detail {

namespace {

#define TAGBUS_STR2(x) #x
#define TAGBUS_STR(x) TAGBUS_STR2(x)
// The soname the headers belong to: OpenSSL 3 is libcrypto.so.3 whatever its minor version.
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
constexpr const char* soname = "libcrypto.so." TAGBUS_STR(OPENSSL_SHLIB_VERSION);
#else
constexpr const char* soname = "libcrypto.so.1.1";
#endif

// The functions we use, with the headers' own signatures.
struct crypto_api {
    void* handle = nullptr;
    std::string error;
    decltype(&EVP_Digest) digest = nullptr;
    // Ed25519 (NATS nkeys); bound apart, so a libcrypto without them still gives digests.
    decltype(&EVP_PKEY_new_raw_private_key) new_raw_private = nullptr;
    decltype(&EVP_PKEY_get_raw_public_key) get_raw_public = nullptr;
    decltype(&EVP_PKEY_free) pkey_free = nullptr;
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
    // OpenSSL 3: fetch explicitly, so a provider that lacks the digest (FIPS and md5) says so.
    decltype(&EVP_MD_fetch) fetch = nullptr;
    decltype(&EVP_MD_free) free = nullptr;
#else
    decltype(&EVP_get_digestbyname) by_name = nullptr;
#endif
};

template <typename F>
bool bind(crypto_api& api, F& fn, const char* name) {
    fn = reinterpret_cast<F>(dlsym(api.handle, name));
    if (fn == nullptr) api.error = std::string(soname) + " has no " + name;
    return fn != nullptr;
}

const crypto_api& api() {
    static crypto_api a;
    static std::once_flag once;
    std::call_once(once, [] {
        a.handle = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
        if (a.handle == nullptr) {
            const char* why = dlerror();
            a.error = why ? why : std::string("cannot load ") + soname;
            return;
        }
        a.new_raw_private = reinterpret_cast<decltype(a.new_raw_private)>(dlsym(a.handle, "EVP_PKEY_new_raw_private_key"));
        a.get_raw_public = reinterpret_cast<decltype(a.get_raw_public)>(dlsym(a.handle, "EVP_PKEY_get_raw_public_key"));
        a.pkey_free = reinterpret_cast<decltype(a.pkey_free)>(dlsym(a.handle, "EVP_PKEY_free"));
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
        if (bind(a, a.digest, "EVP_Digest") && bind(a, a.fetch, "EVP_MD_fetch") && bind(a, a.free, "EVP_MD_free"))
            return;
#else
        if (bind(a, a.digest, "EVP_Digest") && bind(a, a.by_name, "EVP_get_digestbyname")) return;
#endif
        a.digest = nullptr;  // incomplete: unusable
    });
    return a;
}

}  // namespace

result<std::string> digest(const char* openssl_name, std::string_view data) {
    const crypto_api& a = api();
    if (a.digest == nullptr) return fail(errc::io, "cannot load libcrypto: " + a.error);
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
    EVP_MD* md = a.fetch(nullptr, openssl_name, nullptr);
#else
    const EVP_MD* md = a.by_name(openssl_name);
#endif
    if (md == nullptr)
        return fail(errc::config, std::string(openssl_name) + " is not available from this system's OpenSSL");
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    const int ok = a.digest(data.data(), data.size(), out, &len, md, nullptr);
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
    a.free(md);
#endif
    if (ok != 1) return fail(errc::config, std::string("cannot compute a ") + openssl_name + " digest");
    return std::string(reinterpret_cast<const char*>(out), len);
}

result<std::string> ed25519_public_key(std::string_view seed) {
    const crypto_api& a = api();
    if (a.handle == nullptr) return fail(errc::io, "cannot load libcrypto: " + a.error);
    if (!a.new_raw_private || !a.get_raw_public || !a.pkey_free)
        return fail(errc::config, "this system's OpenSSL has no Ed25519");
    if (seed.size() != 32) return fail(errc::data, "an Ed25519 seed is 32 bytes");
    EVP_PKEY* key = a.new_raw_private(EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(seed.data()), 32);
    if (key == nullptr) return fail(errc::config, "OpenSSL refused the Ed25519 seed");
    unsigned char pub[32];
    std::size_t len = sizeof pub;
    const int ok = a.get_raw_public(key, pub, &len);
    a.pkey_free(key);
    if (ok != 1 || len != 32) return fail(errc::config, "OpenSSL could not derive the Ed25519 public key");
    return std::string(reinterpret_cast<const char*>(pub), 32);
}

}  // namespace tagbus::detail
