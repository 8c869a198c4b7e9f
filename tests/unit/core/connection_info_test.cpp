// Connection files: the keys and key order the Python controller writes, atomic 0600 writes,
// errors naming file and key, and address disambiguation, cross-checked against Python.
#include "ipp/config/connection_info.hpp"
#include "ipp/config/error.hpp"
#include "ipp/config/profile_dir.hpp"

#include <gtest/gtest.h>
#include <ifaddrs.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>

#include "test_support.hpp"

namespace ipp::config {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

const fs::path kPython = "/usr/bin/python3";

unsigned mode_of(const fs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "<no ConfigError>";
}

bool have_python() { return ::access(kPython.c_str(), X_OK) == 0; }

// Runs a Python script with arguments and returns its stdout without the final newline.
std::string run_python(const TempDir& dir, const std::string& script, const std::string& args) {
  const fs::path py = dir.path() / "script.py";
  std::ofstream(py) << script;
  std::string out;
  FILE* p = ::popen((kPython.string() + " " + py.string() + " " + args + " 2>&1").c_str(), "r");
  if (!p) return out;
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), buf.size(), p)) out += buf.data();
  ::pclose(p);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

std::string this_hostname() {
  char buf[HOST_NAME_MAX + 1] = {};
  ::gethostname(buf, sizeof buf - 1);
  return buf;
}

// A non-loopback IPv4 address of this machine, or "" when it has none.
std::string some_interface_address() {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return "";
  std::string found;
  for (const ifaddrs* it = list; it && found.empty(); it = it->ifa_next) {
    if (!it->ifa_addr || it->ifa_addr->sa_family != AF_INET) continue;
    char buf[INET_ADDRSTRLEN] = {};
    const auto* sin = reinterpret_cast<const sockaddr_in*>(it->ifa_addr);
    ::inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof buf);
    if (std::string(buf).rfind("127.", 0) != 0) found = buf;
  }
  ::freeifaddrs(list);
  return found;
}

ConnectionInfo client_info() {
  ConnectionInfo c;
  c.kind = ConnectionKind::Client;
  c.interface = "tcp://127.0.0.1";
  c.registration = 51367;
  c.control = 46681;
  c.mux = 55433;
  c.task = 46419;
  c.task_scheme = "leastload";
  c.iopub = 48977;
  c.notification = 53897;
  c.broadcast = {44253};
  c.key = "40cf50c9-c2a1978fa457f86a9f60be94";
  c.location = "vm";
  return c;
}

ConnectionInfo engine_info() {
  ConnectionInfo e = client_info();
  e.kind = ConnectionKind::Engine;
  e.control = 42675;
  e.mux = 41941;
  e.task = 59231;
  e.iopub = 35419;
  e.hb_ping = 37723;
  e.hb_pong = 52959;
  e.broadcast = {57737, 48825};
  return e;
}

std::vector<std::string> keys_of(const nlohmann::ordered_json& j) {
  std::vector<std::string> out;
  for (const auto& [k, v] : j.items()) out.push_back(k);
  return out;
}

TEST(ConnectionInfoTest, KeyOrderIsThePythonControllers) {
  EXPECT_EQ(keys_of(client_info().to_json()),
            (std::vector<std::string>{"ssh", "interface", "registration", "control", "mux", "task",
                                      "task_scheme", "iopub", "notification", "broadcast", "key",
                                      "curve_serverkey", "location", "pack", "unpack",
                                      "signature_scheme"}));
  EXPECT_EQ(keys_of(engine_info().to_json()),
            (std::vector<std::string>{"ssh", "interface", "registration", "control", "mux", "task",
                                      "iopub", "hb_ping", "hb_pong", "broadcast", "key",
                                      "curve_serverkey", "location", "pack", "unpack",
                                      "signature_scheme"}));
  EXPECT_TRUE(client_info().to_json()["broadcast"].is_number_integer());
  EXPECT_EQ(engine_info().to_json()["broadcast"], nlohmann::ordered_json::parse("[57737, 48825]"));
  EXPECT_TRUE(client_info().to_json()["curve_serverkey"].is_null());
}

TEST(ConnectionInfoTest, RoundTripWithMode0600) {
  TempDir dir;
  for (const ConnectionInfo& info : {client_info(), engine_info()}) {
    const fs::path path = dir.path() / (info.kind == ConnectionKind::Client ? "c.json" : "e.json");
    ConnectionInfo with_curve = info;
    with_curve.curve_serverkey = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
    write_connection_file(path, with_curve);
    EXPECT_EQ(mode_of(path), 0600u);
    const ConnectionInfo back = read_connection_file(path, info.kind);
    EXPECT_EQ(back.to_json(), with_curve.to_json());
    EXPECT_EQ(back.broadcast, info.broadcast);
    EXPECT_EQ(back.curve_serverkey, with_curve.curve_serverkey);
  }
}

TEST(ConnectionInfoTest, ModeIs0600WhateverTheUmaskAndThePreviousFile) {
  TempDir dir;
  const fs::path path = dir.path() / "ipcontroller-client.json";
  std::ofstream(path) << "old";
  ::chmod(path.c_str(), 0644);
  const mode_t old = ::umask(0);
  write_connection_file(path, client_info());
  ::umask(old);
  EXPECT_EQ(mode_of(path), 0600u);
  EXPECT_NE(slurp(path), "old");
}

TEST(ConnectionInfoTest, ReadingAFileOpenToOthersMakesItPrivate) {
  TempDir dir;
  const fs::path path = dir.path() / "ipcontroller-client.json";
  write_connection_file(path, client_info());
  ::chmod(path.c_str(), 0644);  // e.g. copied by hand with cp
  (void)read_connection_file(path, ConnectionKind::Client);
  EXPECT_EQ(mode_of(path), 0600u);
  ::chmod(path.c_str(), 0640);
  EXPECT_TRUE(ensure_private_file(path));
  EXPECT_EQ(mode_of(path), 0600u);
  EXPECT_TRUE(ensure_private_file(dir.path() / "absent.json"));
}

TEST(ConnectionInfoTest, AtomicWriteLeavesNoTemporaryFile) {
  TempDir dir;
  const fs::path path = dir.path() / "ipcontroller-engine.json";
  write_connection_file(path, engine_info());
  write_connection_file(path, engine_info());  // over an existing file too
  write_file_atomic(dir.path() / "other.txt", "hello",
                    fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir.path()))
    names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"ipcontroller-engine.json", "other.txt"}));
  EXPECT_EQ(slurp(dir.path() / "other.txt"), "hello");
  EXPECT_EQ(mode_of(dir.path() / "other.txt"), 0640u);
}

TEST(ConnectionInfoTest, FailedWriteIsAConfigErrorNamingTheFile) {
  const fs::path path = "/nonexistent-dir/ipcontroller-client.json";
  const std::string err = error_of([&] { write_connection_file(path, client_info()); });
  EXPECT_EQ(err.rfind(path.string() + ": cannot write", 0), 0u) << err;
}

TEST(ConnectionInfoTest, MissingOrMistypedKeyNamesFileAndKey) {
  TempDir dir;
  const fs::path path = dir.path() / "ipcontroller-client.json";
  nlohmann::ordered_json j = client_info().to_json();
  j.erase("mux");
  std::ofstream(path) << j.dump(2);
  EXPECT_EQ(error_of([&] { read_connection_file(path, ConnectionKind::Client); }),
            path.string() + ": key 'mux' is missing");

  j = engine_info().to_json();
  j.erase("hb_ping");
  std::ofstream(path) << j.dump(2);
  EXPECT_EQ(error_of([&] { read_connection_file(path, ConnectionKind::Engine); }),
            path.string() + ": key 'hb_ping' is missing");
  // The same file lacks nothing a client needs except what only clients have.
  EXPECT_EQ(error_of([&] { read_connection_file(path, ConnectionKind::Client); }),
            path.string() + ": key 'notification' is missing");

  j = client_info().to_json();
  j["registration"] = "51367";
  std::ofstream(path) << j.dump(2);
  EXPECT_EQ(error_of([&] { read_connection_file(path, ConnectionKind::Client); }),
            path.string() + ": key 'registration' must be a port number, got \"51367\"");

  std::ofstream(path) << "{\"registration\": 1e999}";  // out of range: a ConfigError too
  EXPECT_EQ(error_of([&] {
              read_connection_file(path, ConnectionKind::Client);
            }).rfind(path.string() + ": invalid JSON", 0),
            0u);
  std::ofstream(path) << "{not json";
  EXPECT_EQ(error_of([&] {
              read_connection_file(path, ConnectionKind::Client);
            }).rfind(path.string() + ": invalid JSON", 0),
            0u);
  EXPECT_EQ(error_of([&] {
              read_connection_file(dir.path() / "absent.json", ConnectionKind::Client);
            }).rfind((dir.path() / "absent.json").string() + ": cannot read", 0),
            0u);
  // From the environment (9.1 engines): the origin is whatever the caller names.
  EXPECT_EQ(error_of([] {
              ConnectionInfo::from_json(nlohmann::json::object(), ConnectionKind::Engine,
                                        "$IPP_CONNECTION_INFO");
            }),
            "$IPP_CONNECTION_INFO: key 'interface' is missing");
}

TEST(ConnectionInfoTest, OptionalKeysMayBeAbsent) {
  nlohmann::json j = nlohmann::json::parse(engine_info().to_json().dump());
  for (const char* k : {"ssh", "key", "location", "curve_serverkey"}) j.erase(k);
  const ConnectionInfo info = ConnectionInfo::from_json(j, ConnectionKind::Engine, "test");
  EXPECT_EQ(info.key, "");
  EXPECT_EQ(info.location, "");
  EXPECT_FALSE(info.curve_serverkey.has_value());
}

TEST(ConnectionInfoTest, UrlDisambiguatesWildcardInterfaces) {
  ConnectionInfo info = client_info();
  EXPECT_EQ(info.url(5555), "tcp://127.0.0.1:5555");
  info.interface = "tcp://10.1.2.3";
  EXPECT_EQ(info.url(5555), "tcp://10.1.2.3:5555");  // explicit addresses are left alone

  info.interface = "tcp://*";
  info.location = this_hostname();
  EXPECT_EQ(info.url(1), "tcp://127.0.0.1:1");
  info.location = "";
  EXPECT_EQ(info.url(2), "tcp://127.0.0.1:2");
  info.location = "203.0.113.7";  // TEST-NET-3: never this machine
  EXPECT_EQ(info.url(3), "tcp://203.0.113.7:3");
  info.interface = "tcp://0.0.0.0";
  EXPECT_EQ(info.url(4), "tcp://203.0.113.7:4");
  info.location = "localhost";
  EXPECT_EQ(info.url(5), "tcp://127.0.0.1:5");
  if (const std::string local = some_interface_address(); !local.empty()) {
    info.location = local;
    EXPECT_EQ(info.url(6), "tcp://127.0.0.1:6") << local;
    EXPECT_TRUE(is_this_machine(local));
  }
  EXPECT_TRUE(is_this_machine(this_hostname()));
  EXPECT_FALSE(is_this_machine("203.0.113.7"));
  EXPECT_EQ(disambiguate_ip("*", "203.0.113.7"), "203.0.113.7");
  EXPECT_EQ(disambiguate_ip("192.168.5.5", ""), "192.168.5.5");
}

TEST(ConnectionInfoTest, UrlAgreesWithIpyparallelDisambiguateUrl) {
  if (!have_python()) GTEST_SKIP() << "no " << kPython;
  TempDir dir;
  const std::string script =
      "import sys, warnings\n"
      "warnings.simplefilter('ignore')\n"
      "from ipyparallel.util import disambiguate_url\n"
      "for loc in sys.argv[1:]:\n"
      "    print(disambiguate_url('tcp://*:7', '' if loc == '-' else loc))\n";
  std::vector<std::string> locations = {"-", this_hostname(), "203.0.113.7", "localhost"};
  if (const std::string local = some_interface_address(); !local.empty())
    locations.push_back(local);
  std::string args;
  for (const auto& l : locations) args += " " + l;
  const std::string out = run_python(dir, script, args);
  std::istringstream lines(out);
  ConnectionInfo info = client_info();
  info.interface = "tcp://*";
  for (const auto& l : locations) {
    std::string theirs;
    ASSERT_TRUE(std::getline(lines, theirs)) << out;
    info.location = l == "-" ? "" : l;
    std::string ours = info.url(7);
    // Python returns whichever 127.x address a local name resolves to; both are loopback.
    if (theirs.rfind("tcp://127.", 0) == 0) theirs = "tcp://127.0.0.1:7";
    EXPECT_EQ(ours, theirs) << "location " << l;
  }
}

TEST(ConnectionInfoTest, FileIsByteIdenticalToPythonsJsonDumpsIndent2) {
  if (!have_python()) GTEST_SKIP() << "no " << kPython;
  TempDir dir;
  const fs::path ours = dir.path() / "ours.json";
  ConnectionInfo info = engine_info();
  info.location = "h\xc3\xb6st";  // json.dumps escapes non-ASCII
  write_connection_file(ours, info);
  const std::string script =
      "import json, sys\n"
      "d = {'ssh': '', 'interface': 'tcp://127.0.0.1', 'registration': 51367, 'control': 42675,\n"
      "     'mux': 41941, 'task': 59231, 'iopub': 35419, 'hb_ping': 37723, 'hb_pong': 52959,\n"
      "     'broadcast': [57737, 48825], 'key': '40cf50c9-c2a1978fa457f86a9f60be94',\n"
      "     'curve_serverkey': None, 'location': 'h\\u00f6st', 'pack': 'json', 'unpack': 'json',\n"
      "     'signature_scheme': 'hmac-sha256'}\n"
      "print(open(sys.argv[1]).read() == json.dumps(d, indent=2))\n";
  EXPECT_EQ(run_python(dir, script, ours.string()), "True") << slurp(ours);
}

TEST(ConnectionInfoTest, ReadsAClientFileWrittenTheWayIpyparallelWritesIt) {
  if (!have_python()) GTEST_SKIP() << "no " << kPython;
  TempDir dir;
  const fs::path path = dir.path() / "ipcontroller-abc-client.json";
  // IPController.save_connection_dict: json.dumps(cdict, indent=2), then chmod 0600.
  const std::string script =
      "import json, os, stat, sys\n"
      "cdict = {'ssh': 'gateway', 'interface': 'tcp://*', 'registration': 51367, 'control': "
      "46681,\n"
      "         'mux': 55433, 'task': 46419, 'task_scheme': 'lru', 'iopub': 48977,\n"
      "         'notification': 53897, 'broadcast': 44253, 'key': 'k3y',\n"
      "         'curve_serverkey': None, 'location': 'vm', 'pack': 'json', 'unpack': 'json',\n"
      "         'signature_scheme': 'hmac-sha256'}\n"
      "with open(sys.argv[1], 'w') as f:\n"
      "    f.write(json.dumps(cdict, indent=2))\n"
      "os.chmod(sys.argv[1], stat.S_IRUSR | stat.S_IWUSR)\n"
      "print('ok')\n";
  ASSERT_EQ(run_python(dir, script, path.string()), "ok");
  const ConnectionInfo c = read_connection_file(path, ConnectionKind::Client);
  EXPECT_EQ(c.ssh, "gateway");
  EXPECT_EQ(c.interface, "tcp://*");
  EXPECT_EQ(c.registration, 51367);
  EXPECT_EQ(c.control, 46681);
  EXPECT_EQ(c.mux, 55433);
  EXPECT_EQ(c.task, 46419);
  EXPECT_EQ(c.task_scheme, "lru");
  EXPECT_EQ(c.iopub, 48977);
  EXPECT_EQ(c.notification, 53897);
  EXPECT_EQ(c.broadcast, std::vector<int>{44253});
  EXPECT_EQ(c.key, "k3y");
  EXPECT_FALSE(c.curve_serverkey.has_value());
  EXPECT_EQ(c.location, "vm");
  // Written back, the file is the same bytes Python wrote.
  const fs::path again = dir.path() / "again.json";
  write_connection_file(again, c);
  EXPECT_EQ(slurp(again), slurp(path));
}

TEST(ConnectionInfoTest, ProfileFileNamesRoundTrip) {
  TempDir dir;
  const ProfileDir p = ProfileDir::resolve(
      {.ipython_dir = "", .profile = "default", .profile_dir = (dir.path() / "profile_x").string()},
      true);
  write_connection_file(p.client_file("abc"), client_info());
  write_connection_file(p.engine_file("abc"), engine_info());
  EXPECT_TRUE(fs::exists(dir.path() / "profile_x" / "security" / "ipcontroller-abc-client.json"));
  EXPECT_EQ(read_connection_file(p.engine_file("abc"), ConnectionKind::Engine).hb_pong, 52959);
}

}  // namespace
}  // namespace ipp::config
