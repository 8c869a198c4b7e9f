#pragma once
// Which CurveZMQ key pair a controller uses, decided from its settings, the connection files it
// is asked to reuse and the key file it saved before (sans-I/O: `choose_curve_keys`), and that
// key file itself.
//
// Python's controller (9.1) takes the key pair from IPController.curve_publickey/secretkey (or
// $IPP_CURVE_PUBLICKEY/SECRETKEY) and otherwise generates one per start; with --reuse it keeps
// the old files, whose curve_serverkey then no longer matches. This controller keeps a key pair
// it generated in security/ipcontroller[-<id>]-curve.json (0600, next to the connection files,
// removed with them on a clean exit) and takes it up again when the files it reuses carry its
// public key, so engines and clients that hold the files keep working across --restore.
#include <ipp/net/curve.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace ipp::controller {

struct CurveKeyInputs {
  bool enabled = false;
  std::string configured_public;  // IPController.curve_publickey or $IPP_CURVE_PUBLICKEY
  std::string configured_secret;  // IPController.curve_secretkey or $IPP_CURVE_SECRETKEY
  bool reusing = false;           // connection files are being reused
  std::optional<std::string> reused_serverkey;  // their curve_serverkey
  std::optional<net::CurveKeyPair> saved;       // the key file's pair, when readable
};

struct CurveKeyChoice {
  std::optional<net::CurveKeyPair> keys;  // empty: CurveZMQ is off
  bool generated = false;                 // a new pair: save it in the key file
  bool from_key_file = false;
  bool rewrite_files = false;  // the reused files do not match: write new ones
  std::vector<std::string> warnings;
};

// Throws config::ConfigError for a malformed key, a public key without its secret key, or a
// pair that does not belong together. Generates a pair (net::generate_curve_keypair) when
// `generate` is called; tests pass a fake.
CurveKeyChoice choose_curve_keys(const CurveKeyInputs& in,
                                 net::CurveKeyPair (*generate)() = net::generate_curve_keypair);

// The key file: {"curve_publickey": ..., "curve_secretkey": ...}. read: nullopt when missing or
// unusable (a pair that does not belong together counts as unusable).
std::optional<net::CurveKeyPair> read_curve_key_file(const std::filesystem::path& path);
void write_curve_key_file(const std::filesystem::path& path, const net::CurveKeyPair& keys);

}  // namespace ipp::controller
