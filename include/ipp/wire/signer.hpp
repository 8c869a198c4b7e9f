#pragma once
// HMAC signing of the four JSON frames, as jupyter_client.Session.sign does it.
// Owned by one thread (it keeps an OpenSSL context); copy it to use it on another.
#include <array>
#include <memory>
#include <string>
#include <string_view>

namespace ipp::wire {

class Signer {
 public:
  // `scheme` is "hmac-<digest>" ("hmac-sha256" by default). An empty key disables signing, as
  // jupyter_client does when `auth is None`. Throws std::invalid_argument for an unknown scheme.
  explicit Signer(std::string key = {}, std::string_view scheme = "hmac-sha256");
  ~Signer();
  Signer(const Signer& other);
  Signer& operator=(const Signer& other);
  Signer(Signer&&) noexcept;
  Signer& operator=(Signer&&) noexcept;

  bool enabled() const { return !key_.empty(); }
  // Length in hex characters of a signature (64 for sha256); 0 when disabled.
  std::size_t hex_size() const;
  // Lowercase hex HMAC over header, parent, metadata and content, fed in that order.
  std::string sign(const std::array<std::string_view, 4>& parts) const;
  // Length check first, then a constant-time comparison.
  bool verify(std::string_view signature, const std::array<std::string_view, 4>& parts) const;

  const std::string& key() const { return key_; }
  const std::string& scheme() const { return scheme_; }

  struct Impl;  // OpenSSL state, defined in signer.cpp

 private:
  std::string key_;
  std::string scheme_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ipp::wire
