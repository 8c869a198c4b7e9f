#pragma once
// Every fuzz target: one function per parser that reads outside input, shared by the libFuzzer
// binaries (fuzz_main.cpp, one per target) and the corpus replay test that CI runs
// (tests/unit/fuzz_replay_test.cpp). Each takes arbitrary bytes, feeds them to the parser the
// way the product does, and catches only the error types that parser documents: anything else
// escaping, a crash or a sanitizer report is a finding.
//
// Corpora: tests/fuzz/corpus/<target>/ (real messages and files; see the README there).
#include "decode_target.hpp"

#include <ipp/cluster/batch_template.hpp>
#include <ipp/cluster/cluster_file.hpp>
#include <ipp/cluster/engines_spec.hpp>
#include <ipp/cluster/options.hpp>
#include <ipp/config/cli_compat.hpp>
#include <ipp/config/config_file.hpp>
#include <ipp/config/connection_info.hpp>
#include <ipp/config/error.hpp>
#include <ipp/config/py_literal.hpp>
#include <ipp/controller/db/memory_task_db.hpp>
#include <ipp/controller/db/query.hpp>
#include <ipp/controller/sched/dependency.hpp>
#include <ipp/controller/sched/task_scheduler.hpp>
#include <ipp/wire/msg_types.hpp>

#include "controller/hub/hub.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

namespace ipp::fuzz {

using Bytes = std::string_view;
using wire::Json;

inline Bytes as_bytes(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// JSON from the input, or nullopt when it is not JSON (most targets then stop: their callers
// parse JSON first and report errors themselves).
inline std::optional<Json> json_of(Bytes in) {
  Json j = Json::parse(in.begin(), in.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

// A scratch file for parsers that read files (one per process; tmpfs when there is one).
inline std::filesystem::path scratch_file(const char* name, Bytes content) {
  static const std::filesystem::path dir = [] {
    std::filesystem::path base =
        std::filesystem::exists("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path();
    auto d = base / ("ipp-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  auto path = dir / name;
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(content.data(),
                                                                 std::streamsize(content.size()));
  return path;
}

// ---- wire ---------------------------------------------------------------------------------

inline int decode(Bytes in) {
  return decode_one(reinterpret_cast<const std::uint8_t*>(in.data()), in.size());
}

// ---- the task scheduler's reading of request metadata and dependencies -------------------

// The first byte picks the message type; the rest is the metadata JSON. Valid requests then go
// through a scheduler with two engines, are answered, and one engine leaves.
inline int task_request(Bytes in) {
  if (in.empty()) return 0;
  static const char* kTypes[] = {"apply_request", "execute_request", "frobnicate_request", ""};
  const char* type = kTypes[static_cast<unsigned char>(in[0]) % 4];
  auto md = json_of(in.substr(1));
  if (!md) return 0;
  if (controller::sched::check_task_request(type, *md)) return 0;
  using namespace std::chrono_literals;
  controller::sched::TaskScheduler s;
  const TimePoint t0{};
  s.engine_registered("e1", t0);
  auto prior = controller::sched::TaskSpec::from_metadata("p", Json::object());
  s.submit(std::move(prior), t0);
  for (const char* id : {"t", "u"}) {
    auto spec = controller::sched::TaskSpec::from_metadata(id, *md);
    s.submit(std::move(spec), t0);
  }
  s.restore(controller::sched::TaskSpec::from_metadata("r", *md), "gone", t0);
  s.engine_registered("e2", t0);
  for (const char* id : {"p", "t", "u", "r"}) {
    if (auto on = s.running_on(id)) s.reply(id, *on, true, true, t0 + 1s);
  }
  s.engine_unregistered("e1", t0 + 2s, /*lost=*/true);
  s.tick(t0 + 60s);
  (void)controller::sched::Dependency::from_json(*md);
  return 0;
}

// ---- db_request filters, on the in-memory store -------------------------------------------

inline int db_query(Bytes in) {
  auto query = json_of(in);
  if (!query) return 0;
  static controller::db::MemoryTaskDb db = [] {
    controller::db::MemoryTaskDb d;
    for (int i = 0; i < 4; ++i) {
      controller::db::TaskRecord r;
      r.fields = Json{{"msg_id", "m" + std::to_string(i)},
                      {"submitted", "2026-12-0" + std::to_string(i + 1) + "T10:00:00.000000Z"},
                      {"completed", i % 2 ? Json() : Json("2026-12-05T10:00:00Z")},
                      {"engine_uuid", i % 2 ? Json("e" + std::to_string(i)) : Json()},
                      {"queue", i % 2 ? "task" : "mux"},
                      {"header", Json{{"msg_type", "apply_request"}}},
                      {"content", Json::object()},
                      {"result_content", Json{{"status", i == 3 ? "error" : "ok"}}},
                      {"stdout", std::string(i, 'x')}};
      r.buffers = {std::string(i, '\0')};
      (void)d.add_record("m" + std::to_string(i), std::move(r));
    }
    return d;
  }();
  auto found = db.find_records(*query);
  if (found) {
    for (auto& rec : *found) controller::db::materialize(rec.fields);
  }
  if (query->is_object() && query->contains("keys") && (*query)["keys"].is_array()) {
    std::vector<std::string> keys;
    for (const auto& k : (*query)["keys"])
      if (k.is_string()) keys.push_back(k.get<std::string>());
    (void)db.find_records(Json::object(), keys);
  }
  return 0;
}

// ---- the hub's query handlers, reached through the decoder --------------------------------

// A hub with its sockets bound to inproc endpoints nobody reads, attached to a reactor that
// never runs: handle_query() runs each handler and its replies go nowhere. Registrations that
// never complete pile up (no timer runs to expire them), so the hub is built anew every
// `kRenewEvery` inputs: its state stays the size a live controller's would have.
struct HubRig {
  static constexpr int kRenewEvery = 500;
  zmq::context_t ctx{1};
  wire::SessionConfig config{"fuzz-hub-key", "hmac-sha256", "", "fuzz"};
  wire::Session client{config};
  std::unique_ptr<net::Reactor> reactor;
  std::unique_ptr<controller::hub::Hub> hub;
  int uses = 0;
  int generation = 0;

  HubRig() { spdlog::set_level(spdlog::level::off); }  // the hub logs every bad query

  controller::hub::Hub& get() {
    if (!hub || ++uses > kRenewEvery) renew();
    return *hub;
  }

 private:
  void renew() {
    hub.reset();
    reactor = std::make_unique<net::Reactor>("fuzz-hub");
    uses = 1;
    ++generation;  // a closed socket releases its inproc name later, on libzmq's reaper thread
    auto bound = [this](zmq::socket_type type, const std::string& name) {
      zmq::socket_t s(ctx, type);
      s.set(zmq::sockopt::linger, 0);
      s.bind("inproc://fuzz-hub-" + std::to_string(generation) + "-" + name);
      return s;
    };
    controller::hub::HubSockets sockets{
        bound(zmq::socket_type::router, "query"),  bound(zmq::socket_type::xpub, "notify"),
        bound(zmq::socket_type::pull, "monitor"),  bound(zmq::socket_type::pub, "ping"),
        bound(zmq::socket_type::router, "pong"),   bound(zmq::socket_type::pair, "events"),
        bound(zmq::socket_type::dealer, "resub"),  bound(zmq::socket_type::push, "sched")};
    controller::hub::HubOptions options;
    options.session = config;
    options.ping_ms = 3000;
    auto db = std::make_unique<controller::db::MemoryTaskDb>();
    for (int i = 0; i < 3; ++i) {
      controller::db::TaskRecord r;
      r.fields = Json{{"msg_id", "m" + std::to_string(i)},
                      {"header", Json{{"msg_id", "m" + std::to_string(i)},
                                      {"msg_type", "apply_request"},
                                      {"session", "s"}}},
                      {"content", Json::object()},
                      {"metadata", Json::object()},
                      {"submitted", "2026-12-04T10:00:00.000000Z"},
                      {"completed", i == 0 ? Json() : Json("2026-12-04T10:00:01Z")},
                      {"queue", "task"},
                      {"engine_uuid", nullptr},
                      {"result_content", Json{{"status", "ok"}}}};
      (void)db->add_record("m" + std::to_string(i), std::move(r));
    }
    hub = std::make_unique<controller::hub::Hub>(std::move(sockets), options, std::move(db));
    hub->attach(*reactor);
  }
};

// The first byte picks the request type (shutdown and the dask hand-over are left out: they end
// the hub or start processes); the rest is its content, signed with the hub's key.
inline int hub_query(Bytes in) {
  if (in.empty()) return 0;
  static HubRig rig;
  static const char* kTypes[] = {"registration_request", "unregistration_request",
                                 "connection_request",   "queue_request",
                                 "result_request",       "history_request",
                                 "db_request",           "purge_request",
                                 "resubmit_request",     "frobnicate_request"};
  const char* type = kTypes[static_cast<unsigned char>(in[0]) % 10];
  auto content = json_of(in.substr(1));
  wire::Message m = rig.client.make(type, content ? *content : Json(std::string(in.substr(1))));
  m.identities = {"fuzz-client"};
  rig.get().handle_query(rig.client.serialize(std::move(m)));
  return 0;
}

// ---- configuration ------------------------------------------------------------------------

inline int py_literal(Bytes in) {
  (void)config::parse_python_literal(in);
  return 0;
}

// `ipcontroller_config.py` read natively (no Python fallback: that one runs Python itself).
inline int config_py(Bytes in) {
  try {
    (void)config::load_python_config(scratch_file("fuzz_config.py", in), "");
  } catch (const config::ConfigError&) {
  }
  return 0;
}

inline int config_json(Bytes in) {
  try {
    (void)config::load_json_config(scratch_file("fuzz_config.json", in));
  } catch (const config::ConfigError&) {
  }
  return 0;
}

// `--Class.trait=value` values, and whole ipcluster command lines split at NUL bytes.
inline int cli_value(Bytes in) {
  try {
    (void)config::parse_cli_value(in);
  } catch (const config::ConfigError&) {
  }
  std::vector<std::string> argv{"ipcluster"};
  std::vector<const char*> cargv{"ipcontroller"};
  std::size_t start = 0;
  for (std::size_t i = 0; i <= in.size(); ++i) {
    if (i == in.size() || in[i] == '\0') {
      argv.emplace_back(in.substr(start, i - start));
      start = i + 1;
    }
  }
  for (std::size_t i = 1; i < argv.size(); ++i) cargv.push_back(argv[i].c_str());
  try {
    (void)cluster::parse_command_line(argv);
  } catch (const config::ConfigError&) {
  }
  try {
    (void)config::extract_cli_config(static_cast<int>(cargv.size()), cargv.data());
  } catch (const config::ConfigError&) {
  }
  return 0;
}

inline int connection_file(Bytes in) {
  auto j = json_of(in);
  if (!j) return 0;
  for (auto kind : {config::ConnectionKind::Client, config::ConnectionKind::Engine}) {
    try {
      auto info = config::ConnectionInfo::from_json(*j, kind, "fuzz.json");
      (void)info.to_json();
    } catch (const config::ConfigError&) {
    }
  }
  return 0;
}

inline int cluster_file(Bytes in) {
  auto j = json_of(in);
  if (!j) return 0;
  try {
    auto record = cluster::ClusterRecord::from_json(*j);
    (void)record.to_json();
    (void)record.any_running();
    (void)record.engine_count();
  } catch (const std::runtime_error&) {  // documented: a file Python could not load either
  }
  return 0;
}

// The SSH launcher's engines dict (host specs), given as the Python literal a config file holds.
inline int engines_spec(Bytes in) {
  auto tree = config::parse_python_literal(in);
  if (tree) {
    try {
      (void)cluster::parse_engines_spec(*tree);
    } catch (const config::ConfigError&) {
    }
  }
  std::string user, host;
  int port = 0;
  try {
    cluster::split_host_key(std::string(in), user, host, port);
  } catch (const config::ConfigError&) {
  }
  return 0;
}

inline int batch_template(Bytes in) {
  static const cluster::TemplateNamespace ns{{"n", 4LL},
                                             {"queue", std::string("batch")},
                                             {"account", std::string("")},
                                             {"profile_dir", std::string("/p d")},
                                             {"cluster_id", std::string("x")},
                                             {"delay", 1.5},
                                             {"program_and_args", std::string("ipengine --x")}};
  try {
    (void)cluster::render_template(in, ns);
  } catch (const cluster::TemplateError&) {
  }
  return 0;
}

struct Target {
  const char* name;
  int (*run)(Bytes);
};

inline constexpr Target kTargets[] = {
    {"decode", decode},           {"task_request", task_request},
    {"hub_query", hub_query},
    {"db_query", db_query},       {"py_literal", py_literal},
    {"config_py", config_py},     {"config_json", config_json},
    {"cli_value", cli_value},     {"connection_file", connection_file},
    {"cluster_file", cluster_file}, {"engines_spec", engines_spec},
    {"batch_template", batch_template},
};

}  // namespace ipp::fuzz
