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

// The four functions we use, with the headers' own signatures.
struct crypto_api {
    void* handle = nullptr;
    std::string error;
    decltype(&EVP_Digest) digest = nullptr;
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

}  // namespace tagbus::detail
