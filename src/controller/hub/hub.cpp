#include "hub.hpp"

#include "engine_state_file.hpp"

#include <ipp/net/frames_io.hpp>
#include <ipp/util/ids.hpp>
#include <ipp/wire/errors.hpp>
#include <ipp/wire/msg_types.hpp>

#include <zmq.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>

namespace ipp::controller::hub {

using wire::Frames;
using wire::Json;
using wire::Message;
namespace msg = wire::msg;

namespace {

std::vector<std::string> route_of(const Message& m) { return m.identities; }

// Python's registration timeout: stalled registrations are purged after it, and direct tasks
// of a departed engine are recorded as failed after it.
std::chrono::seconds registration_timeout(int ping_ms) {
  return std::chrono::seconds(std::max(30, ping_ms / 100));
}

// How long after a restart with --restore the departures of restored engines are replayed to
// new notification subscribers (clients reconnect every 100 ms, libzmq's default).
constexpr auto kRestoreReplayWindow = std::chrono::seconds(5);

EngineRegistry::Options registry_options(const HubOptions& o) {
  EngineRegistry::Options r;
  r.period = std::chrono::milliseconds(o.ping_ms);
  r.max_misses = o.max_misses;
  r.registration_timeout = registration_timeout(o.ping_ms);
  return r;
}

// The descriptor a message part was read from (-1 for inproc or when libzmq does not say).
int source_fd(const zmq::message_t& part) {
  return zmq_msg_get(const_cast<zmq_msg_t*>(part.handle()), ZMQ_SRCFD);
}

}  // namespace

Hub::Hub(HubSockets sockets, HubOptions options, std::unique_ptr<db::TaskDb> db)
    : s_(std::move(sockets)),
      options_(std::move(options)),
      db_(std::move(db)),
      session_(options_.session),
      registry_(registry_options(options_), std::chrono::steady_clock::now()),
      ledger_(TaskLedger::Options{options_.recent_completed, options_.completed_window}),
      log_(log::get("IPController")),
      problems_(log_) {
  if (options_.restore) load_engine_state();
}

Hub::~Hub() {
  if (state_write_pending_) save_engine_state();
}

void Hub::attach(net::Reactor& reactor) {
  reactor_ = &reactor;
  reactor.add(s_.query, [this] { on_query(); });
  reactor.add(s_.monitor, [this] { on_monitor_paced(); });
  reactor.add(s_.hb_pong, [this] { on_pong(); });
  if (s_.hb_events) reactor.add(s_.hb_events, [this] { on_connection_events(); });
  reactor.add(s_.notification, [this] { on_subscription(); });
  reactor.add(s_.resubmit, [this] {
    // Replies to resubmitted tasks come back here; clients fetch them with result_request.
    Frames discard;
    while (net::recv_frames(s_.resubmit, discard)) {
    }
  });
  reactor.call_every(std::chrono::milliseconds(options_.ping_ms), [this] { beat(); });
  reactor.call_every(std::chrono::seconds(1),
                     [this] { db_->tick(std::chrono::steady_clock::now()); });
  reactor.call_every(problems_.period(), [this] { problems_.flush(); });
  reactor.call_every(std::chrono::seconds(2), [this] { sample_status(); });
  started_ = std::chrono::steady_clock::now();
  sample_status();
  beat();
  // Engines restored from the state file get their notifications to the scheduler now.
  for (const auto& [id, e] : registry_.engines()) sched_event("register", e.uuid);
  if (options_.restore) restore_unfinished_tasks();
  log_->info("Hub using DB backend: {}", db_->backend_name());
}

// --- heartbeat and connections -----------------------------------------------------------------

void Hub::beat() {
  on_monitor();  // an engine found dead now has its tasks as they are
  on_connection_events();
  auto b = registry_.beat(std::chrono::steady_clock::now());
  s_.hb_ping.send(zmq::buffer(b.ping), zmq::send_flags::dontwait);
  apply(b.events);
}

void Hub::reping_soon() {
  // A new engine subscribes to hb_ping only after its registration reply; re-send the current
  // ping (same payload: no miss is counted for anyone) 20 ms after a registration and then every
  // reping_interval() while registrations are pending, so an engine's first pong, which completes
  // its registration, comes at once instead of up to a whole period later. One chain serves every
  // pending registration: a burst of registrations costs a few pings, not a few per engine.
  reping_deadline_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.ping_ms);
  if (reping_active_) return;
  reping_active_ = true;
  reping_tick(std::chrono::milliseconds(20));
}

void Hub::reping_tick(std::chrono::milliseconds delay) {
  reactor_->call_later(delay, [this] {
    if (!registry_.has_pending_registrations() ||
        std::chrono::steady_clock::now() >= reping_deadline_) {
      reping_active_ = false;
      return;
    }
    const std::string& ping = registry_.current_ping();
    s_.hb_ping.send(zmq::buffer(ping), zmq::send_flags::dontwait);
    reping_tick(reping_interval());
  });
}

std::chrono::milliseconds Hub::reping_interval() const {
  // Every re-ping is answered by every engine: 50 ms while the cluster is small (an engine whose
  // interpreter starts a moment after its registration reply is announced within 50 ms of it),
  // growing with the engine count to 250 ms at 1,000 engines, so a registration burst on a large
  // cluster costs about four pongs per engine per second.
  const auto scaled = static_cast<std::int64_t>(registry_.engines().size() / 4);
  return std::chrono::milliseconds(std::clamp<std::int64_t>(scaled, 50, 250));
}

void Hub::save_engine_state_soon() {
  // Coalesce the rewrites of a burst of (un)registrations into one.
  if (state_write_pending_) return;
  state_write_pending_ = true;
  reactor_->call_later(std::chrono::milliseconds(200), [this] {
    state_write_pending_ = false;
    save_engine_state();
  });
}

void Hub::on_pong() {
  Frames frames;
  auto now = std::chrono::steady_clock::now();
  for (int budget = 0; budget < 10000 && net::recv_frames(s_.hb_pong, frames); ++budget) {
    if (frames.size() != 2) {
      problems_.report(spdlog::level::warn, "malformed heartbeat pong", [&] {
        return fmt::format("heartbeat: malformed pong ({} frames)", frames.size());
      });
      continue;
    }
    std::string_view uuid = wire::view(frames[0]);
    const int fd = source_fd(frames[1]);
    if (fd >= 0 && registry_.connection_is_new(uuid, fd)) {
      // A descriptor is reused only after its old connection closed; take in that news first,
      // so the closing is not put down to the engine that now answers on it.
      on_connection_events();
      registry_.connection_seen(uuid, fd);
    }
    apply(registry_.pong(uuid, wire::view(frames[1]), now));
  }
}

void Hub::on_connection_events() {
  if (!s_.hb_events) return;
  // Socket-monitor events: [uint16 event, uint32 value (the descriptor)], [endpoint].
  Frames frames;
  auto now = std::chrono::steady_clock::now();
  while (net::recv_frames(s_.hb_events, frames)) {
    auto e = net::decode_socket_event(frames);
    if (!e) continue;
    if (e->event == ZMQ_EVENT_DISCONNECTED) {
      apply(registry_.connection_lost(static_cast<std::int32_t>(e->value), now));
    }
    if (options_.on_heart_connection_event) options_.on_heart_connection_event(*e);
  }
}

// --- registration -----------------------------------------------------------------------------

void Hub::register_engine(const std::vector<std::string>& route, const Message& m) {
  const Json& content = m.content;
  if (!content.contains("uuid") || !content["uuid"].is_string()) {
    problems_.report(spdlog::level::err, "registration request without uuid",
                     [] { return std::string("registration request without uuid; ignored"); });
    return;
  }
  std::string uuid = content["uuid"];
  std::optional<int> requested;
  if (auto r = content.find("id"); r != content.end() && r->is_number_integer()) {
    requested = r->get<int>();
  }
  on_connection_events();
  auto admission = registry_.admit(uuid, requested, std::chrono::steady_clock::now());
  if (!admission.error.empty()) {
    problems_.report(spdlog::level::err, "registration of a uuid in use", [&] {
      return fmt::format("registration::uuid {} in use", log::printable(uuid));
    });
    send_reply(route, msg::kRegistrationReply, wire::wrap_key_error(admission.error),
               Json::object());
    return;
  }
  if (admission.id_changed) {
    problems_.report(spdlog::level::warn, "registration asking for an engine id in use", [&] {
      return fmt::format("engine id {} requested, but it is in use; assigning {}", *requested,
                         admission.id);
    });
  }
  log_->info("client::client {} requested registration", log::printable(uuid));
  Json reply{{"id", admission.id},
             {"status", "ok"},
             {"hb_period", options_.ping_ms},
             {"connection_info", options_.engine_connection_info}};
  // parent_header is {} in Python's registration_reply.
  send_reply(route, msg::kRegistrationReply, std::move(reply), Json::object());
  if (admission.events.empty()) {
    reping_soon();
  } else {
    apply(admission.events);
  }
}

void Hub::unregister_engine(const std::vector<std::string>&, const Message& m) {
  const Json& id_value = m.content.value("id", Json());
  if (!id_value.is_number_integer()) {
    problems_.report(spdlog::level::err, "unregistration request without an engine id", [] {
      return std::string("unregistration request without an engine id; ignored");
    });
    return;
  }
  int id = id_value.get<int>();
  auto events = registry_.unregister(id, Departure::Requested);
  if (events.empty()) {
    problems_.report(spdlog::level::info, "unregistration of an engine not registered",
                     [&] { return fmt::format("registration::Engine {} already unregistered", id); });
  }
  apply(events);
}

void Hub::apply(const EngineRegistry::Events& events) {
  for (const auto& ev : events) {
    switch (ev.kind) {
      case EngineRegistry::Event::Kind::Registered:
        ledger_.engine_added(ev.id);
        log_->info("engine::Engine Connected: {}", ev.id);
        save_engine_state_soon();
        sched_event("register", ev.uuid);
        notify(msg::kRegistrationNotification, Json{{"id", ev.id}, {"uuid", ev.uuid}});
        break;
      case EngineRegistry::Event::Kind::Unregistered:
        engine_gone(ev.id, ev.uuid, ev.why);
        break;
      case EngineRegistry::Event::Kind::Purged:
        problems_.report(spdlog::level::warn, "stalled registration", [&] {
          return fmt::format("registration::purging stalled registration: {}", ev.id);
        });
        break;
    }
  }
}

void Hub::sched_event(const char* what, const std::string& uuid) {
  Frames ev;
  ev.push_back(wire::frame(what));
  ev.push_back(wire::frame(uuid));
  net::send_frames(s_.sched_events, std::move(ev));
}

void Hub::engine_gone(int id, const std::string& uuid, Departure why) {
  draining_.erase(id);
  if (why == Departure::HeartFailure) log_->warn("heartbeat::Heart {} failed :(", log::printable(uuid));
  log_->info("registration::unregister_engine({}) ({})", id, describe(why));
  save_engine_state_soon();
  // An engine that asked to leave may still be sending its last replies: the scheduler gives
  // them a grace. One whose process is gone, or whose heart failed, answers nothing more.
  const bool lost = why == Departure::ConnectionLost || why == Departure::HeartFailure;
  sched_event(lost ? "lost" : "unregister", uuid);
  notify(msg::kUnregistrationNotification, Json{{"id", id}, {"uuid", uuid}});
  if (restored_.erase(uuid) != 0 && std::chrono::steady_clock::now() < restore_window_end_) {
    restored_departures_.emplace_back(id, uuid);
  }
  std::vector<std::string> stranded = ledger_.engine_removed(id);
  if (stranded.empty()) return;
  // Direct tasks still pending on it will never be answered; clients have failed them on the
  // notification. Their records are failed now when the process is known to be gone, else after
  // the registration timeout as Python does (a late answer from a hung engine still lands).
  if (why == Departure::ConnectionLost) {
    fail_stranded(id, uuid, std::move(stranded));
    return;
  }
  reactor_->call_later(registration_timeout(options_.ping_ms),
                       [this, id, uuid, stranded = std::move(stranded)]() mutable {
                         fail_stranded(id, uuid, std::move(stranded));
                       });
}

void Hub::fail_stranded(int id, const std::string& uuid, std::vector<std::string> msg_ids) {
  for (const auto& msg_id : msg_ids) {
    if (!ledger_.is_pending(msg_id)) continue;
    Json content = wire::wrap_exception(
        "EngineError", "Engine " + std::to_string(id) + " died while running task " +
                           wire::python_repr(msg_id));
    db::RecordUpdate u;
    std::string now = iso8601_now();
    u.fields = Json{{"result_header", Json{{"engine", uuid}, {"date", now}}},
                    {"result_content", content},
                    {"result_metadata", Json{{"status", "error"}, {"engine", uuid}}},
                    {"completed", now},
                    {"received", now},
                    {"engine_uuid", uuid}};
    auto r = db_->update_record(msg_id, std::move(u));
    if (!r) db_error(r.error(), "update", msg_id);
    ledger_.complete(msg_id, std::nullopt);
  }
}

void Hub::save_engine_state() {
  if (options_.engine_state_file.empty()) return;
  try {
    write_engine_state(options_.engine_state_file, registry_.snapshot());
  } catch (const std::exception& e) {
    log_->error("cannot save engine state to {}: {}", options_.engine_state_file.string(),
                e.what());
  }
}

void Hub::load_engine_state() {
  const auto& path = options_.engine_state_file;
  std::ifstream in(path);
  if (!in) {
    log_->warn("no engine state file at {}; nothing to restore", path.string());
    return;
  }
  std::stringstream text;
  text << in.rdbuf();
  auto parsed = parse_engine_state(text.str());
  if (!parsed) {
    log_->error("engine state file {} is not valid JSON; nothing restored", path.string());
    return;
  }
  for (const auto& key : parsed->bad_entries) {
    log_->error("bad entry '{}' in engine state file {}", key, path.string());
  }
  registry_.restore(parsed->state, std::chrono::steady_clock::now());
  restore_window_end_ = std::chrono::steady_clock::now() + kRestoreReplayWindow;
  for (const auto& [id, e] : registry_.engines()) {
    restored_.insert(e.uuid);
    ledger_.engine_added(id);
    log_->info("restoring engine {}: {}", id, log::printable(e.uuid));
  }
  if (!parsed->state.engines.empty()) {
    log_->info("restored engines that do not answer the heartbeat within {} periods of {} ms "
               "are unregistered",
               options_.max_misses + 1, options_.ping_ms);
  }
}

void Hub::on_subscription() {
  // A client connects its notification SUB and then asks for the engine list; a registration
  // published between the hub's connection_reply and the moment that subscription reaches us is
  // lost to the client, which then waits forever for an engine it will never hear of. So every
  // new subscription gets the recent registrations again. Clients treat a repeated
  // registration_notification as a no-op. Unregistrations are not repeated (a stale one would
  // fail a 9.1 client's wait_for_engines), except those of restored engines just after a
  // restart (restored_departures_).
  constexpr auto kReplayWindow = std::chrono::seconds(30);
  Frames frames;
  bool subscribed = false;
  while (net::recv_frames(s_.notification, frames)) {
    for (const auto& f : frames) {
      if (f.size() > 0 && static_cast<const unsigned char*>(f.data())[0] == 1) subscribed = true;
    }
    frames.clear();
  }
  if (!subscribed) return;
  auto since = std::chrono::steady_clock::now() - kReplayWindow;
  int replayed = 0;
  for (const auto& [id, e] : registry_.engines()) {
    if (e.registered_at < since) continue;
    notify(msg::kRegistrationNotification, Json{{"id", id}, {"uuid", e.uuid}});
    ++replayed;
  }
  if (replayed > 0) log_->debug("new notification subscriber: replayed {} registrations", replayed);
  if (!restored_departures_.empty()) {
    if (std::chrono::steady_clock::now() >= restore_window_end_) {
      restored_departures_.clear();
      return;
    }
    for (const auto& [id, uuid] : restored_departures_) {
      notify(msg::kUnregistrationNotification, Json{{"id", id}, {"uuid", uuid}});
    }
  }
}

void Hub::notify(std::string_view msg_type, Json content, Json parent) {
  Message m = session_.make(msg_type, std::move(content), std::move(parent));
  net::send_frames(s_.notification, session_.serialize(std::move(m)));
}

// --- queries ----------------------------------------------------------------------------------

void Hub::send_reply(const std::vector<std::string>& route, std::string_view msg_type,
                     Json content, const Json& parent, Frames buffers) {
  Message m = session_.make(msg_type, std::move(content), parent);
  m.identities = route;
  m.buffers = std::move(buffers);
  net::send_frames(s_.query, session_.serialize(std::move(m)));
}

void Hub::on_query() {
  on_monitor();  // answer from the state as of now: take in the task copies waiting first
  Frames frames;
  for (int budget = 0; budget < 1000 && net::recv_frames(s_.query, frames); ++budget) {
    handle_query(std::move(frames));
  }
}

void Hub::handle_query(Frames&& frames) {
  ++queries_;
  auto decoded = session_.deserialize(std::move(frames));
  if (!decoded) {
    // Python logs "Bad Query Message" and cannot reply; neither do we (no trustworthy parent).
    problems_.report(spdlog::level::err, "bad query message", [&] {
      return fmt::format("Bad Query Message: {}", decoded.error().what());
    });
    return;
  }
  Message m = std::move(decoded).value();
  std::string type = m.msg_type();
  auto route = route_of(m);
  try {
    if (type == msg::kRegistrationRequest) {
      register_engine(route, m);
    } else if (type == msg::kUnregistrationRequest) {
      unregister_engine(route, m);
    } else if (type == msg::kConnectionRequest) {
      connection_request(route, m);
    } else if (type == msg::kQueueRequest) {
      queue_request(route, m);
    } else if (type == msg::kResultRequest) {
      result_request(route, m);
    } else if (type == msg::kHistoryRequest) {
      history_request(route, m);
    } else if (type == msg::kDbRequest) {
      db_request(route, m);
    } else if (type == msg::kPurgeRequest) {
      purge_request(route, m);
    } else if (type == msg::kResubmitRequest) {
      resubmit_request(route, m);
    } else if (type == msg::kShutdownRequest) {
      shutdown_request(route, m);
    } else if (type == "become_dask_request") {
      become_dask_request(route, m);
    } else if (type == "stop_distributed_request") {
      stop_distributed_request(route, m);
    } else if (type == "status_request") {
      status_request(route, m);
    } else if (type == "drain_request") {
      drain_request(route, m);
    } else if (type == "adapt_report") {
      adapt_report(route, m);
    } else {
      problems_.report(spdlog::level::err, "query of an unknown type", [&] {
        return fmt::format("Bad Message Type: {}", log::printable(wire::python_repr(type)));
      });
      send_reply(route, msg::kHubError,
                 wire::wrap_key_error("Bad Message Type: " + wire::python_repr(type)), m.header);
    }
  } catch (const std::exception& e) {
    // A malformed request (wrong JSON types) must not take the hub down: answer with the
    // error, as Python's hub_error does for a raising handler.
    problems_.report(spdlog::level::err, "query with bad content", [&] {
      return fmt::format("query {} failed: {}", log::printable(type), e.what());
    });
    send_reply(route, msg::kHubError, wire::wrap_exception("TypeError", e.what()), m.header);
  }
}

}  // namespace ipp::controller::hub
