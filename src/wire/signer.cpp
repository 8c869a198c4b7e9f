#include <ipp/wire/signer.hpp>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace ipp::wire {

// A keyed HMAC context kept as a template, and a working copy of it that each signature
// re-initialises (OpenSSL restores the keyed inner state without a new key schedule or any
// allocation), which costs less than duplicating the template per message.
struct Signer::Impl {
  EVP_MAC* mac = nullptr;
  EVP_MAC_CTX* keyed = nullptr;
  EVP_MAC_CTX* work = nullptr;  // the owning thread's; see the class comment
  std::size_t digest_size = 0;

  ~Impl() {
    EVP_MAC_CTX_free(work);
    EVP_MAC_CTX_free(keyed);
    EVP_MAC_free(mac);
  }
};

namespace {

std::string digest_name(std::string_view scheme) {
  constexpr std::string_view prefix = "hmac-";
  if (scheme.substr(0, prefix.size()) != prefix) {
    throw std::invalid_argument("signature_scheme must start with 'hmac-', got '" +
                                std::string(scheme) + "'");
  }
  std::string name(scheme.substr(prefix.size()));
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return std::toupper(c); });
  return name;
}

std::unique_ptr<Signer::Impl> make_impl(const std::string& key, const std::string& scheme) {
  if (key.empty()) return nullptr;
  auto impl = std::make_unique<Signer::Impl>();
  std::string digest = digest_name(scheme);
  const EVP_MD* md = EVP_get_digestbyname(digest.c_str());
  if (md == nullptr) {
    throw std::invalid_argument("unknown signature_scheme '" + scheme + "'");
  }
  impl->digest_size = static_cast<std::size_t>(EVP_MD_get_size(md));
  impl->mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (impl->mac == nullptr) throw std::runtime_error("OpenSSL has no HMAC");
  impl->keyed = EVP_MAC_CTX_new(impl->mac);
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest.data(), 0),
      OSSL_PARAM_construct_end()};
  if (EVP_MAC_init(impl->keyed, reinterpret_cast<const unsigned char*>(key.data()), key.size(),
                   params) != 1) {
    throw std::invalid_argument("cannot initialise " + scheme);
  }
  return impl;
}

}  // namespace

Signer::Signer(std::string key, std::string_view scheme)
    : key_(std::move(key)), scheme_(scheme), impl_(make_impl(key_, scheme_)) {
  if (!impl_) digest_name(scheme_);  // still validate the scheme's form
}

Signer::~Signer() = default;
Signer::Signer(Signer&&) noexcept = default;
Signer& Signer::operator=(Signer&&) noexcept = default;
Signer::Signer(const Signer& other)
    : key_(other.key_), scheme_(other.scheme_), impl_(make_impl(key_, scheme_)) {}
Signer& Signer::operator=(const Signer& other) {
  if (this != &other) {
    key_ = other.key_;
    scheme_ = other.scheme_;
    impl_ = make_impl(key_, scheme_);
  }
  return *this;
}

std::size_t Signer::hex_size() const { return impl_ ? impl_->digest_size * 2 : 0; }

std::string Signer::sign(const std::array<std::string_view, 4>& parts) const {
  if (!impl_) return {};
  if (impl_->work == nullptr) {
    impl_->work = EVP_MAC_CTX_dup(impl_->keyed);
    if (impl_->work == nullptr) throw std::runtime_error("EVP_MAC_CTX_dup failed");
  } else if (EVP_MAC_init(impl_->work, nullptr, 0, nullptr) != 1) {
    throw std::runtime_error("EVP_MAC_init failed");
  }
  EVP_MAC_CTX* ctx = impl_->work;
  for (auto p : parts) {
    EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(p.data()), p.size());
  }
  unsigned char out[EVP_MAX_MD_SIZE];
  std::size_t len = 0;
  EVP_MAC_final(ctx, out, &len, sizeof out);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex(len * 2, '0');
  for (std::size_t i = 0; i < len; ++i) {
    hex[2 * i] = kHex[out[i] >> 4];
    hex[2 * i + 1] = kHex[out[i] & 0xf];
  }
  return hex;
}

bool Signer::verify(std::string_view signature,
                    const std::array<std::string_view, 4>& parts) const {
  if (!impl_) return true;
  if (signature.size() != hex_size()) return false;
  std::string expected = sign(parts);
  return CRYPTO_memcmp(expected.data(), signature.data(), expected.size()) == 0;
}

}  // namespace ipp::wire
