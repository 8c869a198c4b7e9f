#include <ipp/cluster/engines_spec.hpp>
#include <ipp/config/error.hpp>

namespace ipp::cluster {

namespace {

using ipp::config::ConfigError;
using ipp::config::ConfigTree;

std::vector<std::string> string_list(const ConfigTree& v, const std::string& where) {
  if (v.is_string()) return {v.get<std::string>()};
  if (!v.is_array()) throw ConfigError(where + " must be a list of strings, got " + v.dump());
  std::vector<std::string> out;
  for (const auto& s : v) {
    if (!s.is_string()) throw ConfigError(where + " must be a list of strings, got " + v.dump());
    out.push_back(s.get<std::string>());
  }
  return out;
}

int count(const ConfigTree& v, const std::string& where) {
  if (!v.is_number_integer() || v.get<long>() < 0) {
    throw ConfigError(where + " must be a non-negative engine count, got " + v.dump());
  }
  return v.get<int>();
}

}  // namespace

void split_host_key(const std::string& key, std::string& user, std::string& host, int& port) {
  std::string rest = key;
  user.clear();
  port = 0;
  if (auto at = rest.find('@'); at != std::string::npos) {
    user = rest.substr(0, at);
    rest = rest.substr(at + 1);
  }
  if (auto colon = rest.rfind(':'); colon != std::string::npos && rest.find(':') == colon) {
    const std::string p = rest.substr(colon + 1);
    try {
      std::size_t used = 0;
      port = std::stoi(p, &used);
      if (used != p.size() || port <= 0 || port > 65535) throw std::invalid_argument(p);
    } catch (const std::exception&) {
      throw ConfigError("c.SSHEngineSetLauncher.engines: bad port in '" + key + "'");
    }
    rest = rest.substr(0, colon);
  }
  if (rest.empty()) throw ConfigError("c.SSHEngineSetLauncher.engines: no host in '" + key + "'");
  host = rest;
}

std::vector<HostSpec> parse_engines_spec(const ConfigTree& engines) {
  if (!engines.is_object()) {
    throw ConfigError("c.SSHEngineSetLauncher.engines must be a dict {host: n}, got " +
                      engines.dump());
  }
  std::vector<HostSpec> out;
  for (auto it = engines.begin(); it != engines.end(); ++it) {
    HostSpec h;
    h.key = it.key();
    split_host_key(h.key, h.user, h.host, h.port);
    const std::string where = "c.SSHEngineSetLauncher.engines['" + h.key + "']";
    const auto& v = it.value();
    if (v.is_number_integer()) {
      h.n = count(v, where);
    } else if (v.is_array()) {
      // 6.x (n, [args]) tuple.
      if (v.empty() || v.size() > 2) throw ConfigError(where + ": expected (n, [args]), got " + v.dump());
      h.n = count(v[0], where + "[0]");
      if (v.size() == 2) h.engine_args = string_list(v[1], where + "[1]");
    } else if (v.is_object()) {
      h.n = v.contains("n") ? count(v["n"], where + "['n']") : 1;
      for (auto o = v.begin(); o != v.end(); ++o) {
        const std::string k = o.key();
        const std::string w = where + "['" + k + "']";
        if (k == "n") continue;
        if (k == "engine_args") {
          h.engine_args = string_list(o.value(), w);
        } else if (k == "engine_cmd" || k == "remote_engine_cmd") {
          h.engine_cmd = string_list(o.value(), w);
        } else if (k == "remote_profile_dir" && o.value().is_string()) {
          h.remote_profile_dir = o.value().get<std::string>();
        } else if (k == "remote_python" && o.value().is_string()) {
          h.remote_python = o.value().get<std::string>();
        } else {
          throw ConfigError(w + ": unsupported per-host setting (use n, engine_args, engine_cmd, "
                            "remote_profile_dir, remote_python)");
        }
      }
    } else {
      throw ConfigError(where + " must be a count, (n, [args]) or {'n': n, ...}, got " + v.dump());
    }
    out.push_back(std::move(h));
  }
  return out;
}

}  // namespace ipp::cluster
