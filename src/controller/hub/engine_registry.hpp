#pragma once
// EngineRegistry: which engines the hub knows and when they stop counting, without sockets or a
// clock of its own. It takes registration requests, heartbeat answers, beats, unregistrations,
// the connections the heartbeat answers arrive on and their losses, each with `now`, and returns
// events (registered, unregistered with a reason, registration purged) for the hub to act on:
// notify clients, tell the scheduler, fail stranded tasks, save the engine state.
//
// How an engine stops counting:
//   - it asks (unregistration_request) or shuts down: at once;
//   - its process exits (signal, os._exit, OOM kill, segfault): the kernel closes its heartbeat
//     connection and the hub reports the loss (connection_lost): at once, with no extra process
//     per engine (Python's engines run a nanny for this);
//   - it hangs or its host vanishes (SIGSTOP, a blocked network, power): the heartbeat, after
//     more than max_misses periods without an answer, as Python's HeartMonitor;
//   - a registration whose first heartbeat answer never comes is purged after
//     registration_timeout;
//   - an engine restored from the state file (--restore) that never answers: the heartbeat, as
//     for any other engine.
//
// Connections are told apart by the file descriptor libzmq reads them from (ZMQ_SRCFD of a
// heartbeat answer, the value of a socket-monitor event). A descriptor is reused only after its
// connection is closed and reported, so the hub reads the pending monitor events before it
// records a new descriptor for an engine (see connection_is_new).
//
// Owning thread: the controller's main reactor. Lifetime: the controller's. Not thread-safe.
#include <ipp/controller/heartbeat/heart_monitor.hpp>
#include <ipp/util/clock.hpp>

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace ipp::controller::hub {

// Why an engine was unregistered (log text and tests).
enum class Departure { Requested, Shutdown, HeartFailure, ConnectionLost };
const char* describe(Departure why);

struct RegisteredEngine {
  int id = -1;
  std::string uuid;
  TimePoint registered_at{};
};

// The part of the registry that survives a controller restart (the engine-state file).
struct EngineState {
  std::map<int, std::string> engines;  // id -> uuid
  int next_id = 0;
};

class EngineRegistry {
 public:
  struct Options {
    Duration period = std::chrono::milliseconds(3000);  // HeartMonitor.period
    int max_misses = 10;                                // HeartMonitor.max_heartmonitor_misses
    Duration registration_timeout = std::chrono::seconds(30);
  };
  struct Event {
    enum class Kind { Registered, Unregistered, Purged } kind;
    int id = -1;
    std::string uuid;
    Departure why = Departure::Requested;  // Unregistered only
  };
  using Events = std::vector<Event>;

  struct Admission {
    int id = -1;
    std::string error;  // non-empty: refused (uuid in use), as Python's KeyError text
    bool id_changed = false;  // the requested id was taken; `id` is another
    Events events;            // Registered when the engine's heart already answers
  };
  struct Beat {
    std::string ping;  // the new payload to publish
    Events events;     // heart failures, purged registrations
  };

  EngineRegistry(Options options, TimePoint start);

  // A registration request. Refused if the uuid is registered or pending; otherwise the engine
  // gets the requested id when free (and >= 0), else the next one, and is registered once its
  // heart answers (at once if it already does).
  Admission admit(const std::string& uuid, std::optional<int> requested_id, TimePoint now);
  // A heartbeat answer [uuid, payload]. Completes a pending registration.
  Events pong(std::string_view uuid, std::string_view payload, TimePoint now);
  // Every period: counts misses, fails hearts past max_misses, purges stalled registrations.
  Beat beat(TimePoint now);
  // An unregistration request or an engine's shutdown: the engine, or its pending registration,
  // is gone. Empty when the id is unknown.
  Events unregister(int id, Departure why);

  // Connections. `connection_is_new`: the answer came on another descriptor than the last one
  // recorded for this engine (the hub then reads pending monitor events first).
  bool connection_is_new(std::string_view uuid, int fd) const;
  void connection_seen(std::string_view uuid, int fd);
  // The connection on `fd` closed: its engine (or pending registration) is gone.
  Events connection_lost(int fd, TimePoint now);

  // Engines from the state file, registered as they were; each must answer the heartbeat
  // within max_misses periods or is unregistered.
  void restore(const EngineState& state, TimePoint now);
  EngineState snapshot() const;

  const std::map<int, RegisteredEngine>& engines() const { return engines_; }
  const RegisteredEngine* find(int id) const;
  std::optional<int> id_of(std::string_view uuid) const;
  // The descriptor the engine's heart last answered on.
  std::optional<int> fd_of(const std::string& uuid) const {
    auto it = fd_of_.find(uuid);
    return it == fd_of_.end() ? std::nullopt : std::optional<int>(it->second);
  }
  bool has_pending_registrations() const { return !pending_.empty(); }
  const std::string& current_ping() const { return hearts_.current_ping(); }
  Duration period() const { return options_.period; }
  const heartbeat::HeartMonitor& hearts() const { return hearts_; }

 private:
  struct Pending {
    int id;
    TimePoint deadline;
  };
  int next_id(std::optional<int> requested, bool& changed);
  void complete(const std::string& uuid, TimePoint now, Events& out);
  void remove(int id, Departure why, Events& out);
  void forget_connection(const std::string& uuid);

  Options options_;
  heartbeat::HeartMonitor hearts_;
  std::map<int, RegisteredEngine> engines_;
  std::unordered_map<std::string, int> by_uuid_;
  std::unordered_map<std::string, Pending> pending_;
  std::unordered_map<std::string, int> fd_of_;
  std::unordered_map<int, std::string> owner_of_fd_;
  int next_id_ = 0;
};

}  // namespace ipp::controller::hub
