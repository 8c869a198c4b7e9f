#include "ipp/config/connection_info.hpp"

#include "ipp/config/error.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdio>
#include <climits>
#include <cstring>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

namespace ipp::config {
namespace fs = std::filesystem;

namespace {

using Ordered = nlohmann::ordered_json;

std::string hostname() {
  char buf[HOST_NAME_MAX + 1] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "";
  return buf;
}

bool is_ip_literal(const std::string& s) {
  in_addr a4{};
  in6_addr a6{};
  return ::inet_pton(AF_INET, s.c_str(), &a4) == 1 || ::inet_pton(AF_INET6, s.c_str(), &a6) == 1;
}

// First IPv4 address of `host` (what Python's socket.gethostbyname_ex(host)[2][0] gives), or
// `host` itself when it does not resolve.
std::string ip_for_host(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (::getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0 || res == nullptr) return host;
  char buf[INET_ADDRSTRLEN] = {};
  const auto* sin = reinterpret_cast<const sockaddr_in*>(res->ai_addr);
  const bool ok = ::inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof buf) != nullptr;
  ::freeaddrinfo(res);
  return ok ? std::string(buf) : host;
}

// Every address of every interface, loopback included: a location on 127.0.0.0/8 is this
// machine as surely as one on eth0.
std::set<std::string> local_addresses() {
  std::set<std::string> out = {"127.0.0.1", "::1"};
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return out;
  for (const ifaddrs* it = list; it; it = it->ifa_next) {
    if (!it->ifa_addr) continue;
    char buf[INET6_ADDRSTRLEN] = {};
    if (it->ifa_addr->sa_family == AF_INET) {
      const auto* sin = reinterpret_cast<const sockaddr_in*>(it->ifa_addr);
      if (::inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof buf)) out.insert(buf);
    } else if (it->ifa_addr->sa_family == AF_INET6) {
      const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(it->ifa_addr);
      if (::inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof buf)) out.insert(buf);
    }
  }
  ::freeifaddrs(list);
  return out;
}

bool is_loopback_v4(const std::string& ip) { return ip.rfind("127.", 0) == 0; }

[[noreturn]] void bad_key(const std::string& origin, const std::string& key,
                          const std::string& what) {
  throw ConfigError(origin + ": key '" + key + "' " + what);
}

const nlohmann::json& require(const nlohmann::json& j, const std::string& key,
                              const std::string& origin) {
  const auto it = j.find(key);
  if (it == j.end()) bad_key(origin, key, "is missing");
  return *it;
}

int port_value(const nlohmann::json& v, const std::string& key, const std::string& origin) {
  if (!v.is_number_integer() || v.get<std::int64_t>() < 0 || v.get<std::int64_t>() > 65535) {
    bad_key(origin, key, "must be a port number, got " + v.dump());
  }
  return v.get<int>();
}

int require_port(const nlohmann::json& j, const std::string& key, const std::string& origin) {
  return port_value(require(j, key, origin), key, origin);
}

std::string string_value(const nlohmann::json& v, const std::string& key,
                         const std::string& origin) {
  if (!v.is_string()) bad_key(origin, key, "must be a string, got " + v.dump());
  return v.get<std::string>();
}

std::string require_string(const nlohmann::json& j, const std::string& key,
                           const std::string& origin) {
  return string_value(require(j, key, origin), key, origin);
}

std::string optional_string(const nlohmann::json& j, const std::string& key,
                            const std::string& origin, const std::string& fallback) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  return string_value(*it, key, origin);
}

}  // namespace

bool is_this_machine(const std::string& location) {
  if (location.empty()) return false;
  if (location == hostname()) return true;
  const std::string addr = is_ip_literal(location) ? location : ip_for_host(location);
  return is_loopback_v4(addr) || local_addresses().contains(addr);
}

std::string disambiguate_ip(const std::string& ip, const std::string& location) {
  if (ip != "*" && ip != "0.0.0.0") return ip;
  if (location.empty() || location == hostname()) return "127.0.0.1";
  std::string addr = is_ip_literal(location) ? location : ip_for_host(location);
  if (is_loopback_v4(addr) || local_addresses().contains(addr)) return "127.0.0.1";
  return addr;
}

nlohmann::ordered_json ConnectionInfo::to_json() const {
  // Key order of ipyparallel's IPController.init_hub / save_connection_dict.
  Ordered j;
  j["ssh"] = ssh;
  j["interface"] = interface;
  j["registration"] = registration;
  j["control"] = control;
  j["mux"] = mux;
  j["task"] = task;
  if (kind == ConnectionKind::Client) {
    j["task_scheme"] = task_scheme;
    j["iopub"] = iopub;
    j["notification"] = notification;
    j["broadcast"] = broadcast.empty() ? 0 : broadcast.front();
  } else {
    j["iopub"] = iopub;
    j["hb_ping"] = hb_ping;
    j["hb_pong"] = hb_pong;
    j["broadcast"] = broadcast;
  }
  j["key"] = key;
  j["curve_serverkey"] = curve_serverkey ? Ordered(*curve_serverkey) : Ordered(nullptr);
  j["location"] = location;
  j["pack"] = pack;
  j["unpack"] = unpack;
  j["signature_scheme"] = signature_scheme;
  return j;
}

ConnectionInfo ConnectionInfo::from_json(const nlohmann::json& j, ConnectionKind kind,
                                         const std::string& origin) {
  if (!j.is_object()) throw ConfigError(origin + ": connection info must be a JSON object");
  ConnectionInfo info;
  info.kind = kind;
  // Required: what the Python client or engine indexes without a default. `ssh`, `key`,
  // `location` and `curve_serverkey` are optional, as they are for the Python engine.
  info.interface = require_string(j, "interface", origin);
  info.registration = require_port(j, "registration", origin);
  info.control = require_port(j, "control", origin);
  info.mux = require_port(j, "mux", origin);
  info.task = require_port(j, "task", origin);
  info.iopub = require_port(j, "iopub", origin);
  const nlohmann::json& bcast = require(j, "broadcast", origin);
  if (bcast.is_array()) {
    for (const auto& p : bcast) info.broadcast.push_back(port_value(p, "broadcast", origin));
  } else {
    info.broadcast.push_back(port_value(bcast, "broadcast", origin));
  }
  if (kind == ConnectionKind::Client) {
    info.notification = require_port(j, "notification", origin);
    info.task_scheme = require_string(j, "task_scheme", origin);
  } else {
    info.hb_ping = require_port(j, "hb_ping", origin);
    info.hb_pong = require_port(j, "hb_pong", origin);
  }
  info.ssh = optional_string(j, "ssh", origin, "");
  info.key = optional_string(j, "key", origin, "");
  info.location = optional_string(j, "location", origin, "");
  if (const auto it = j.find("curve_serverkey"); it != j.end() && !it->is_null()) {
    info.curve_serverkey = string_value(*it, "curve_serverkey", origin);
  }
  info.pack = require_string(j, "pack", origin);
  info.unpack = require_string(j, "unpack", origin);
  info.signature_scheme = require_string(j, "signature_scheme", origin);
  return info;
}

std::string ConnectionInfo::url(int port) const {
  const auto sep = interface.find("://");
  if (sep == std::string::npos) return interface + ":" + std::to_string(port);
  const std::string transport = interface.substr(0, sep);
  const std::string ip = interface.substr(sep + 3);
  // Python joins with ':' for every transport; only tcp addresses are disambiguated.
  const std::string host = transport == "tcp" ? disambiguate_ip(ip, location) : ip;
  return transport + "://" + host + ":" + std::to_string(port);
}

void write_file_atomic(const fs::path& path, const std::string& text, fs::perms mode) {
  const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  std::random_device rd;
  const std::string tmp_name = "." + path.filename().string() + ".tmp-" +
                               std::to_string(::getpid()) + "-" + std::to_string(rd());
  const fs::path tmp = dir / tmp_name;
  const auto fail = [&](const std::string& what, int err) {
    ::unlink(tmp.c_str());
    throw ConfigError(path.string() + ": cannot write: " + what + ": " + std::strerror(err));
  };
  const auto mode_bits = static_cast<mode_t>(mode & fs::perms::mask);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode_bits);
  if (fd < 0) throw ConfigError(path.string() + ": cannot write: " + std::strerror(errno));
  // The mode is set before the rename so the file never appears with umask permissions, and
  // fchmod makes it exact whatever the umask.
  if (::fchmod(fd, mode_bits) != 0) {
    const int err = errno;
    ::close(fd);
    fail("chmod", err);
  }
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      fail("write", err);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    fail("fsync", err);
  }
  if (::close(fd) != 0) fail("close", errno);
  if (::rename(tmp.c_str(), path.c_str()) != 0) fail("rename", errno);
  // Make the rename itself durable; failure here loses nothing already visible.
  if (const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

void write_connection_file(const fs::path& path, const ConnectionInfo& info) {
  // json.dumps(indent=2): ASCII-only, no trailing newline, as the Python controller writes it.
  write_file_atomic(path, info.to_json().dump(2, ' ', true),
                    fs::perms::owner_read | fs::perms::owner_write);
}

bool ensure_private_file(const fs::path& path) {
  std::error_code ec;
  const fs::perms now = fs::status(path, ec).permissions();
  if (ec) return true;  // missing: the reader reports that
  if ((now & (fs::perms::group_all | fs::perms::others_all)) == fs::perms::none) return true;
  char was[8];
  std::snprintf(was, sizeof was, "%04o", static_cast<unsigned>(now & fs::perms::mask));
  fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace,
                  ec);
  if (ec) {
    spdlog::warn("{} is readable by others (mode {}) and could not be made private: {}",
                 path.string(), was, ec.message());
    return false;
  }
  spdlog::warn("{} was readable by others (mode {}); set to 0600", path.string(), was);
  return true;
}

ConnectionInfo read_connection_file(const fs::path& path, ConnectionKind kind) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path.string() + ": cannot read: " + std::strerror(errno));
  ensure_private_file(path);
  std::ostringstream ss;
  ss << in.rdbuf();
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(ss.str());
  } catch (const nlohmann::json::exception& e) {  // syntax, or a number out of range
    throw ConfigError(path.string() + ": invalid JSON: " + e.what());
  }
  return ConnectionInfo::from_json(j, kind, path.string());
}

}  // namespace ipp::config
