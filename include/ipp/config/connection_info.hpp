#pragma once
// ipcontroller-client.json / ipcontroller-engine.json: every key the Python controller writes,
// read and written atomically (temp file, fsync, rename) with mode 0600.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace ipp::config {

enum class ConnectionKind { Client, Engine };

struct ConnectionInfo {
  ConnectionKind kind = ConnectionKind::Client;
  std::string ssh;
  std::string interface = "tcp://127.0.0.1";
  int registration = 0;
  int control = 0;
  int mux = 0;
  int task = 0;
  int iopub = 0;
  int notification = 0;                   // client file only
  std::string task_scheme = "leastload";  // client file only
  int hb_ping = 0;                        // engine file only
  int hb_pong = 0;                        // engine file only
  std::vector<int> broadcast;  // client: one port (written as an int); engine: one per leaf
  std::string key;
  std::optional<std::string> curve_serverkey;
  std::string location;
  std::string pack = "json";
  std::string unpack = "json";
  std::string signature_scheme = "hmac-sha256";

  // Key order as Python writes it: ssh, interface, channels, key, curve_serverkey, location,
  // pack, unpack, signature_scheme.
  nlohmann::ordered_json to_json() const;
  // Throws ConfigError naming `origin` (a path or "$IPP_CONNECTION_INFO") and the missing or
  // mistyped key.
  static ConnectionInfo from_json(const nlohmann::json& j, ConnectionKind kind,
                                  const std::string& origin);

  // "tcp://host:port" for a channel port. An interface of "*" or "0.0.0.0" is replaced by
  // 127.0.0.1 when `location` is this machine and by `location` otherwise
  // (ipyparallel.util.disambiguate_ip_address).
  std::string url(int port) const;
};

void write_connection_file(const std::filesystem::path& path, const ConnectionInfo& info);
ConnectionInfo read_connection_file(const std::filesystem::path& path, ConnectionKind kind);

// ipyparallel.util.disambiguate_ip_address: "*" and "0.0.0.0" become 127.0.0.1 when `location`
// is empty or names this machine (its hostname, or an address of one of its interfaces, or a
// name resolving to one), else `location` (resolved to an address when it resolves). Any other
// `ip` is returned unchanged.
std::string disambiguate_ip(const std::string& ip, const std::string& location);
// True when `location` is this machine's hostname or resolves to one of its addresses.
bool is_this_machine(const std::string& location);

// A file holding the cluster's key or its layout (connection files, cluster files) must be
// readable by its owner only: when `path` is open to group or others, it is set to 0600 with a
// warning naming the file and the mode it had. False when it could not be repaired (warned).
bool ensure_private_file(const std::filesystem::path& path);

// Writes `text` to `path` atomically (temp file in the same directory, fsync, rename) with `mode`.
void write_file_atomic(const std::filesystem::path& path, const std::string& text,
                       std::filesystem::perms mode);

}  // namespace ipp::config
