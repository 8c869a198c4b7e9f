#include "curve_keys.hpp"

#include <ipp/config/connection_info.hpp>
#include <ipp/config/error.hpp>

#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

namespace ipp::controller {

namespace {

using config::ConfigError;

net::CurveKeyPair configured_pair(const CurveKeyInputs& in) {
  if (in.configured_secret.empty()) {
    throw ConfigError(
        "IPController.curve_publickey is set but IPController.curve_secretkey is not: give "
        "both (or $IPP_CURVE_PUBLICKEY and $IPP_CURVE_SECRETKEY), or neither to generate a pair");
  }
  auto pub = net::curve_public_key_of(in.configured_secret);
  if (!pub) {
    throw ConfigError("IPController.curve_secretkey: not a Z85-encoded CurveZMQ key (" +
                      std::to_string(net::kCurveKeyLength) + " characters expected, got " +
                      std::to_string(in.configured_secret.size()) + ")");
  }
  if (!in.configured_public.empty() && in.configured_public != *pub) {
    throw ConfigError(
        "IPController.curve_publickey does not belong to IPController.curve_secretkey");
  }
  return net::CurveKeyPair{*pub, in.configured_secret};
}

}  // namespace

CurveKeyChoice choose_curve_keys(const CurveKeyInputs& in, net::CurveKeyPair (*generate)()) {
  CurveKeyChoice out;
  if (!in.enabled) {
    if (in.reusing && in.reused_serverkey) {
      out.rewrite_files = true;
      out.warnings.push_back(
          "the connection files to reuse carry a curve_serverkey but CurveZMQ is off; writing "
          "new connection files without it");
    }
    return out;
  }
  if (!in.configured_secret.empty() || !in.configured_public.empty()) {
    out.keys = configured_pair(in);
  } else if (in.reusing && in.reused_serverkey && in.saved &&
             in.saved->public_key == *in.reused_serverkey) {
    out.keys = *in.saved;
    out.from_key_file = true;
  } else {
    out.keys = generate();
    out.generated = true;
  }
  if (in.reusing && (!in.reused_serverkey || *in.reused_serverkey != out.keys->public_key)) {
    out.rewrite_files = true;
    out.warnings.push_back(
        in.reused_serverkey
            ? "the connection files to reuse carry another controller's curve_serverkey (and its "
              "secret key is neither configured nor saved); writing new connection files: "
              "engines and clients must read them again"
            : "the connection files to reuse have no curve_serverkey; writing new connection "
              "files with this controller's CurveZMQ key");
  }
  return out;
}

std::optional<net::CurveKeyPair> read_curve_key_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  config::ensure_private_file(path);
  std::stringstream text;
  text << in.rdbuf();
  try {
    auto j = nlohmann::json::parse(text.str());
    net::CurveKeyPair keys{j.at("curve_publickey").get<std::string>(),
                           j.at("curve_secretkey").get<std::string>()};
    auto pub = net::curve_public_key_of(keys.secret_key);
    if (!pub || *pub != keys.public_key) return std::nullopt;
    return keys;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

void write_curve_key_file(const std::filesystem::path& path, const net::CurveKeyPair& keys) {
  nlohmann::ordered_json j;
  j["curve_publickey"] = keys.public_key;
  j["curve_secretkey"] = keys.secret_key;
  config::write_file_atomic(
      path, j.dump(2), std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

}  // namespace ipp::controller
