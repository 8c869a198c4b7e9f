#include <ipp/ssh/target.hpp>

#include <charconv>

namespace ipp::ssh {

std::string SshTarget::describe() const {
  std::string s = user.empty() ? host : user + "@" + host;
  if (port > 0) s += ":" + std::to_string(port);
  return s;
}

Result<SshTarget> parse_server(const std::string& spec) {
  auto bad = [&](const std::string& why) {
    return make_error(ErrorCode::InvalidArgument,
                      "ssh server '" + spec + "': " + why + " (expected [user@]host[:port])");
  };
  SshTarget t;
  std::string rest = spec;
  if (auto at = rest.find('@'); at != std::string::npos) {
    t.user = rest.substr(0, at);
    rest = rest.substr(at + 1);
    if (t.user.empty()) return bad("empty user name");
  }
  if (auto colon = rest.rfind(':'); colon != std::string::npos) {
    const std::string port = rest.substr(colon + 1);
    int value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value <= 0 || value > 65535) {
      return bad("'" + port + "' is not a port number");
    }
    t.port = value;
    rest = rest.substr(0, colon);
  }
  if (rest.empty()) return bad("no host name");
  t.host = rest;
  return t;
}

}  // namespace ipp::ssh
