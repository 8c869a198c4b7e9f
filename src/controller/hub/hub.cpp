#include "hub.hpp"

#include "../service/monitor_copy.hpp"

#include <ipp/config/connection_info.hpp>
#include <ipp/net/frames_io.hpp>
#include <ipp/util/ids.hpp>
#include <ipp/wire/errors.hpp>
#include <ipp/wire/msg_types.hpp>

#include <algorithm>
#include <fstream>

namespace ipp::controller::hub {

using wire::Frames;
using wire::Json;
using wire::Message;
namespace msg = wire::msg;

namespace {

std::vector<std::string> route_of(const Message& m) { return m.identities; }

// Byte copies of frames[first..].
db::Buffers to_buffers(const Frames& frames, std::size_t first = 0) {
  db::Buffers out;
  out.reserve(frames.size() - std::min(first, frames.size()));
  for (std::size_t i = first; i < frames.size(); ++i) out.emplace_back(wire::view(frames[i]));
  return out;
}

// A parsed message's parts, moved: no copy of the JSON trees.
template <typename Parts>
void take_parts(Message& m, Parts& p) {
  p.header = std::move(m.header);
  p.metadata = std::move(m.metadata);
  p.content = std::move(m.content);
  p.buffers = to_buffers(m.buffers);
}

Json wrap_error(const db::DbError& e) { return wire::wrap_exception(e.ename, e.evalue); }

// The fields of a whole task record (protocol.md 8.1), with room for label and display_data.
constexpr std::size_t kRecordFields = 24;

}  // namespace

Hub::Hub(HubSockets sockets, HubOptions options, std::unique_ptr<db::TaskDb> db)
    : s_(std::move(sockets)),
      options_(std::move(options)),
      db_(std::move(db)),
      session_(options_.session),
      hearts_({std::chrono::milliseconds(options_.ping_ms), options_.max_misses},
              std::chrono::steady_clock::now()),
      log_(log::get("IPController")) {
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
  beat();
  // Engines restored from the state file get their notifications to the scheduler now.
  for (const auto& [id, e] : engines_) {
    Frames ev;
    ev.push_back(wire::frame("register"));
    ev.push_back(wire::frame(e.uuid));
    net::send_frames(s_.sched_events, std::move(ev));
  }
  log_->info("Hub using DB backend: {}", db_->backend_name());
}

// --- heartbeat --------------------------------------------------------------------------------

void Hub::beat() {
  on_monitor();  // an engine found dead now has its tasks as they are
  auto b = hearts_.beat(std::chrono::steady_clock::now());
  s_.hb_ping.send(zmq::buffer(b.ping), zmq::send_flags::dontwait);
  for (const auto& uuid : b.failed_hearts) {
    auto it = by_uuid_.find(uuid);
    if (it != by_uuid_.end()) {
      log_->warn("heartbeat::Heart {} failed :(", uuid);
      drop_engine(it->second, "heartbeat failure");
    }
    dead_hearts_.insert(uuid);
    hearts_.forget(uuid);
  }
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
    if (pending_regs_.empty() || std::chrono::steady_clock::now() >= reping_deadline_) {
      reping_active_ = false;
      return;
    }
    const std::string& ping = hearts_.current_ping();
    s_.hb_ping.send(zmq::buffer(ping), zmq::send_flags::dontwait);
    reping_tick(reping_interval());
  });
}

std::chrono::milliseconds Hub::reping_interval() const {
  // Every re-ping is answered by every engine: 50 ms while the cluster is small (an engine whose
  // interpreter starts a moment after its registration reply is announced within 50 ms of it),
  // growing with the engine count to 250 ms at 1,000 engines, so a registration burst on a large
  // cluster costs about four pongs per engine per second.
  const auto scaled = static_cast<std::int64_t>(engines_.size() / 4);
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
      if (bad_pong_limit_.allow()) log_->warn("heartbeat: malformed pong ({} frames)", frames.size());
      continue;
    }
    std::string uuid(wire::view(frames[0]));
    if (hearts_.pong(uuid, wire::view(frames[1]), now)) {
      dead_hearts_.erase(uuid);
      if (pending_regs_.count(uuid) != 0) {
        finish_registration(uuid);
      } else if (by_uuid_.count(uuid) == 0) {
        log_->debug("heartbeat: new heart {} without a registration", uuid);
      }
    }
  }
}

// --- registration -----------------------------------------------------------------------------

int Hub::new_engine_id(const Json& requested) {
  if (requested.is_number_integer()) {
    int want = requested.get<int>();
    bool taken = engines_.count(want) != 0;
    for (const auto& [_, p] : pending_regs_) taken = taken || p.id == want;
    if (!taken && want >= 0) {
      next_id_ = std::max(next_id_, want + 1);
      return want;
    }
    log_->warn("engine id {} requested, but it is in use; assigning {}", want, next_id_);
  }
  return next_id_++;
}

void Hub::register_engine(const std::vector<std::string>& route, const Message& m) {
  const Json& content = m.content;
  if (!content.contains("uuid") || !content["uuid"].is_string()) {
    log_->error("registration request without uuid; ignored");
    return;
  }
  std::string uuid = content["uuid"];
  int id = new_engine_id(content.value("id", Json()));
  if (by_uuid_.count(uuid) != 0 || pending_regs_.count(uuid) != 0) {
    log_->error("registration::uuid {} in use", uuid);
    send_reply(route, msg::kRegistrationReply, wire::wrap_key_error("uuid '" + uuid + "' in use"),
               Json::object());
    return;
  }
  log_->info("client::client {} requested registration", uuid);
  Json reply{{"id", id},
             {"status", "ok"},
             {"hb_period", options_.ping_ms},
             {"connection_info", options_.engine_connection_info}};
  // parent_header is {} in Python's registration_reply.
  send_reply(route, msg::kRegistrationReply, std::move(reply), Json::object());
  PendingRegistration p{id, 0};
  int timeout_s = std::max(30, options_.ping_ms / 100);
  p.stall_timer = reactor_->call_later(std::chrono::seconds(timeout_s), [this, uuid] {
    auto it = pending_regs_.find(uuid);
    if (it == pending_regs_.end()) return;
    log_->warn("registration::purging stalled registration: {}", it->second.id);
    pending_regs_.erase(it);
  });
  pending_regs_.emplace(uuid, p);
  if (hearts_.is_known(uuid)) {
    finish_registration(uuid);
  } else {
    reping_soon();
  }
}

void Hub::finish_registration(const std::string& uuid) {
  auto it = pending_regs_.find(uuid);
  if (it == pending_regs_.end()) return;
  int id = it->second.id;
  reactor_->cancel(it->second.stall_timer);
  pending_regs_.erase(it);
  engines_[id] = Engine{id, uuid, {}, {}, 0, {}, std::chrono::steady_clock::now()};
  by_uuid_[uuid] = id;
  log_->info("engine::Engine Connected: {}", id);
  save_engine_state_soon();
  Frames ev;
  ev.push_back(wire::frame("register"));
  ev.push_back(wire::frame(uuid));
  net::send_frames(s_.sched_events, std::move(ev));
  notify(msg::kRegistrationNotification, Json{{"id", id}, {"uuid", uuid}});
}

void Hub::unregister_engine(const std::vector<std::string>&, const Message& m) {
  const Json& id_value = m.content.value("id", Json());
  if (!id_value.is_number_integer()) {
    log_->error("unregistration request without an engine id; ignored");
    return;
  }
  int id = id_value.get<int>();
  if (engines_.count(id) == 0) {
    // A pending registration is cancelled (as 9.1 does); anything else is already gone.
    for (auto it = pending_regs_.begin(); it != pending_regs_.end(); ++it) {
      if (it->second.id == id) {
        reactor_->cancel(it->second.stall_timer);
        pending_regs_.erase(it);
        return;
      }
    }
    log_->info("registration::Engine {} already unregistered", id);
    return;
  }
  drop_engine(id, "unregistration request");
}

void Hub::drop_engine(int id, const std::string& why) {
  auto it = engines_.find(id);
  if (it == engines_.end()) return;
  Engine e = std::move(it->second);
  engines_.erase(it);
  by_uuid_.erase(e.uuid);
  hearts_.forget(e.uuid);
  dead_hearts_.insert(e.uuid);
  log_->info("registration::unregister_engine({}) ({})", id, why);
  save_engine_state_soon();
  Frames ev;
  ev.push_back(wire::frame("unregister"));
  ev.push_back(wire::frame(e.uuid));
  net::send_frames(s_.sched_events, std::move(ev));
  notify(msg::kUnregistrationNotification, Json{{"id", id}, {"uuid", e.uuid}});
  // Mux tasks still pending on it will never be answered: record them as failed, after the
  // registration timeout as Python does (clients have failed them locally already).
  std::vector<std::string> stranded(e.queue.begin(), e.queue.end());
  if (!stranded.empty()) {
    int timeout_s = std::max(30, options_.ping_ms / 100);
    reactor_->call_later(std::chrono::seconds(timeout_s),
                         [this, id, uuid = e.uuid, stranded = std::move(stranded)]() mutable {
                           fail_stranded(id, uuid, std::move(stranded));
                         });
  }
}

void Hub::fail_stranded(int id, const std::string& uuid, std::vector<std::string> msg_ids) {
  for (const auto& msg_id : msg_ids) {
    if (pending_.count(msg_id) == 0) continue;
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
    complete(msg_id, uuid);
  }
}

void Hub::save_engine_state() {
  if (options_.engine_state_file.empty()) return;
  Json engines = Json::object();
  for (const auto& [id, e] : engines_) engines[std::to_string(id)] = e.uuid;
  Json state{{"engines", engines}, {"next_id", next_id_}};
  try {
    config::write_file_atomic(options_.engine_state_file, state.dump(),
                              std::filesystem::perms::owner_read |
                                  std::filesystem::perms::owner_write |
                                  std::filesystem::perms::group_read |
                                  std::filesystem::perms::others_read);
  } catch (const std::exception& e) {
    log_->error("cannot save engine state to {}: {}", options_.engine_state_file.string(),
                e.what());
  }
}

void Hub::load_engine_state() {
  std::ifstream in(options_.engine_state_file);
  if (!in) {
    log_->warn("no engine state file at {}; nothing to restore",
               options_.engine_state_file.string());
    return;
  }
  Json state = Json::parse(in, nullptr, false);
  if (state.is_discarded() || !state.is_object()) {
    log_->error("engine state file {} is not valid JSON; nothing restored",
                options_.engine_state_file.string());
    return;
  }
  const Json saved = state.value("engines", Json::object());  // items() must not outlive it
  for (const auto& [key, value] : saved.items()) {
    try {
      int id = std::stoi(key);
      std::string uuid = value.get<std::string>();
      engines_[id] = Engine{id, uuid, {}, {}, 0, {}};
      by_uuid_[uuid] = id;
      next_id_ = std::max(next_id_, id + 1);
      log_->info("restoring engine {}: {}", id, uuid);
    } catch (const std::exception&) {
      log_->error("bad entry '{}' in engine state file", key);
    }
  }
  if (state.contains("next_id") && state["next_id"].is_number_integer()) {
    next_id_ = std::max(next_id_, state["next_id"].get<int>());
  }
}

void Hub::on_subscription() {
  // A client connects its notification SUB and then asks for the engine list; a registration
  // published between the hub's connection_reply and the moment that subscription reaches us is
  // lost to the client, which then waits forever for an engine it will never hear of. So every
  // new subscription gets the recent registrations again. Clients treat a repeated
  // registration_notification as a no-op. Unregistrations are not repeated: a stale one would
  // fail a client's wait_for_engines.
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
  for (const auto& [id, e] : engines_) {
    if (e.registered_at < since) continue;
    notify(msg::kRegistrationNotification, Json{{"id", id}, {"uuid", e.uuid}});
    ++replayed;
  }
  if (replayed > 0) log_->debug("new notification subscriber: replayed {} registrations", replayed);
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
    auto decoded = session_.deserialize(std::move(frames));
    if (!decoded) {
      // Python logs "Bad Query Message" and cannot reply; neither do we (no trustworthy parent).
      if (bad_query_limit_.allow()) {
        log_->error("Bad Query Message: {}{}", decoded.error().what(),
                    bad_query_limit_.suppressed()
                        ? fmt::format(" ({} similar suppressed)", bad_query_limit_.suppressed())
                        : std::string());
      }
      continue;
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
      } else {
        log_->error("Bad Message Type: {}", wire::python_repr(type));
        send_reply(route, msg::kHubError,
                   wire::wrap_key_error("Bad Message Type: " + wire::python_repr(type)), m.header);
      }
    } catch (const std::exception& e) {
      // A malformed request (wrong JSON types) must not take the hub down: answer with the
      // error, as Python's hub_error does for a raising handler.
      log_->error("query {} failed: {}", type, e.what());
      send_reply(route, msg::kHubError, wire::wrap_exception("TypeError", e.what()), m.header);
    }
  }
}

void Hub::connection_request(const std::vector<std::string>& route, const Message& m) {
  log_->debug("client::client {} connected", m.header.value("session", std::string("?")));
  Json engines = Json::object();
  for (const auto& [id, e] : engines_) engines[std::to_string(id)] = e.uuid;
  send_reply(route, msg::kConnectionReply, Json{{"status", "ok"}, {"engines", engines}}, m.header);
}

std::optional<std::vector<int>> Hub::validate_targets(const Json& targets, std::string& error) {
  std::vector<int> out;
  if (targets.is_null()) {
    for (const auto& [id, _] : engines_) out.push_back(id);
  } else {
    Json list = targets.is_array() ? targets : Json::array({targets});
    std::vector<std::string> bad;
    for (const auto& t : list) {
      if (t.is_number_integer()) {
        int id = t.get<int>();
        if (engines_.count(id) != 0) {
          out.push_back(id);
        } else {
          bad.push_back(std::to_string(id));
        }
      } else if (t.is_string()) {
        auto it = by_uuid_.find(t.get<std::string>());
        if (it != by_uuid_.end()) {
          out.push_back(it->second);
        } else {
          bad.push_back(wire::python_repr(t.get<std::string>()));
        }
      } else {
        bad.push_back(t.dump());
      }
    }
    if (!bad.empty()) {
      std::string joined;
      for (const auto& b : bad) joined += (joined.empty() ? "" : ", ") + b;
      error = "No Such Engine: [" + joined + "]";
      return std::nullopt;
    }
    // Only an explicit empty list is an error; None means all engines, even none (Python).
    if (out.empty()) {
      error = "No Engines Registered";
      return std::nullopt;
    }
  }
  return out;
}

void Hub::queue_request(const std::vector<std::string>& route, const Message& m) {
  std::string error;
  auto targets = validate_targets(m.content.value("targets", Json()), error);
  if (!targets) {
    send_reply(route, msg::kHubError, wire::wrap_exception("IndexError", error), m.header);
    return;
  }
  bool verbose = m.content.value("verbose", false);
  Json content{{"status", "ok"}};
  for (int id : *targets) {
    const Engine& e = engines_.at(id);
    if (verbose) {
      content[std::to_string(id)] = Json{{"queue", Json(e.queue)},
                                         {"completed", Json(e.recent)},
                                         {"tasks", Json(e.tasks)}};
    } else {
      content[std::to_string(id)] = Json{{"queue", e.queue.size()},
                                         {"completed", e.completed},
                                         {"tasks", e.tasks.size()}};
    }
  }
  if (verbose) {
    content["unassigned"] = Json(std::vector<std::string>(unassigned_.begin(), unassigned_.end()));
  } else {
    content["unassigned"] = unassigned_.size();
  }
  send_reply(route, msg::kQueueReply, std::move(content), m.header);
}

void Hub::result_request(const std::vector<std::string>& route, const Message& m) {
  std::set<std::string> ids;
  for (const auto& id : m.content.value("msg_ids", Json::array())) {
    if (id.is_string()) ids.insert(id.get<std::string>());
  }
  bool status_only = m.content.value("status_only", false);
  // Full results come from the record store (NoDB answers NoData, as Python's does).
  std::unordered_map<std::string, db::TaskRecord> records;
  if (!status_only && !ids.empty()) {
    auto found = db_->find_records(Json{{"msg_id", Json{{"$in", Json(ids)}}}});
    if (!found) {
      send_reply(route, msg::kResultReply, wrap_error(found.error()), m.header);
      return;
    }
    for (auto& r : *found) {
      std::string id = r.fields.value("msg_id", std::string());
      records.emplace(std::move(id), std::move(r));
    }
  }
  Json pending = Json::array(), completed = Json::array();
  Json content{{"status", "ok"}};
  Frames buffers;
  auto extract = [&](const std::string& id, const db::TaskRecord& rec) {
    const Json& f = rec.fields;
    Json io{{"execute_input", f.value("execute_input", Json())},
            {"execute_result", f.value("execute_result", Json())},
            {"error", f.value("error", Json())},
            {"stdout", f.value("stdout", Json(""))},
            {"stderr", f.value("stderr", Json(""))}};
    content[id] = Json{{"header", f.value("header", Json())},
                       {"metadata", f.value("metadata", Json())},
                       {"result_metadata", f.value("result_metadata", Json())},
                       {"result_header", f.value("result_header", Json())},
                       {"result_content", f.value("result_content", Json())},
                       {"received", f.value("received", Json())},
                       {"io", io}};
    for (const auto& b : rec.result_buffers) buffers.push_back(wire::frame(b));
  };
  for (const auto& id : ids) {
    if (pending_.count(id) != 0) {
      pending.push_back(id);
      continue;
    }
    if (status_only) {
      if (completed_ids_.count(id) != 0) {
        completed.push_back(id);
        continue;
      }
      // Older than the in-memory window: ask the store.
      auto rec = db_->get_record(id);
      if (rec) {
        (rec->fields.value("completed", Json()).is_null() ? pending : completed).push_back(id);
        continue;
      }
    } else {
      auto it = records.find(id);
      if (it != records.end()) {
        if (it->second.fields.value("completed", Json()).is_null()) {
          pending.push_back(id);
        } else {
          completed.push_back(id);
          extract(id, it->second);
        }
        continue;
      }
    }
    send_reply(route, msg::kResultReply, wire::wrap_key_error("No such message: " + id),
               m.header);
    return;
  }
  content["pending"] = pending;
  content["completed"] = completed;
  send_reply(route, msg::kResultReply, std::move(content), m.header, std::move(buffers));
}

void Hub::history_request(const std::vector<std::string>& route, const Message& m) {
  auto h = db_->get_history();
  Json content = h ? Json{{"status", "ok"}, {"history", *h}} : wrap_error(h.error());
  send_reply(route, msg::kHistoryReply, std::move(content), m.header);
}

void Hub::db_request(const std::vector<std::string>& route, const Message& m) {
  Json query = m.content.value("query", Json::object());
  Json keys_json = m.content.value("keys", Json());
  db::KeySelection keys;
  if (keys_json.is_array()) {
    keys.emplace();
    for (const auto& k : keys_json) {
      if (k.is_string()) keys->push_back(k.get<std::string>());
    }
  }
  auto found = db_->find_records(query, keys);
  if (!found) {
    send_reply(route, msg::kDbReply, wrap_error(found.error()), m.header);
    return;
  }
  auto named = [&](const char* k) {
    return keys && std::find(keys->begin(), keys->end(), k) != keys->end();
  };
  bool want_bufs = named("buffers"), want_rbufs = named("result_buffers");
  Json records = Json::array();
  Json buffer_lens = want_bufs ? Json::array() : Json();
  Json result_buffer_lens = want_rbufs ? Json::array() : Json();
  Frames buffers;
  for (auto& rec : *found) {
    rec.fields.erase("buffers");
    rec.fields.erase("result_buffers");
    records.push_back(std::move(rec.fields));
    if (want_bufs) {
      buffer_lens.push_back(rec.buffers.size());
      for (const auto& b : rec.buffers) buffers.push_back(wire::frame(b));
    }
    if (want_rbufs) {
      result_buffer_lens.push_back(rec.result_buffers.size());
      for (const auto& b : rec.result_buffers) buffers.push_back(wire::frame(b));
    }
  }
  send_reply(route, msg::kDbReply,
             Json{{"status", "ok"},
                  {"records", std::move(records)},
                  {"buffer_lens", buffer_lens},
                  {"result_buffer_lens", result_buffer_lens}},
             m.header, std::move(buffers));
}

void Hub::purge_request(const std::vector<std::string>& route, const Message& m) {
  Json msg_ids = m.content.value("msg_ids", Json::array());
  Json reply{{"status", "ok"}};
  if (msg_ids.is_string() && msg_ids.get<std::string>() == "all") {
    auto r = db_->drop_matching_records(Json{{"completed", Json{{"$ne", nullptr}}}});
    if (!r) reply = wrap_error(r.error());
  } else {
    if (!msg_ids.is_array()) msg_ids = Json::array();
    for (const auto& id : msg_ids) {
      if (id.is_string() && pending_.count(id.get<std::string>()) != 0) {
        reply = wire::wrap_exception("IndexError",
                                     "msg pending: " + wire::python_repr(id.get<std::string>()));
        break;
      }
    }
    if (reply["status"] == "ok" && !msg_ids.empty()) {
      auto r = db_->drop_matching_records(Json{{"msg_id", Json{{"$in", msg_ids}}}});
      if (!r) reply = wrap_error(r.error());
    }
    if (reply["status"] == "ok") {
      for (const auto& eid : m.content.value("engine_ids", Json::array())) {
        int id = eid.is_number_integer() ? eid.get<int>() : -1;
        auto it = engines_.find(id);
        if (it == engines_.end()) {
          reply = wire::wrap_exception("IndexError", "No such engine: " + eid.dump());
          break;
        }
        auto r = db_->drop_matching_records(
            Json{{"engine_uuid", it->second.uuid}, {"completed", Json{{"$ne", nullptr}}}});
        if (!r) {
          reply = wrap_error(r.error());
          break;
        }
      }
    }
  }
  send_reply(route, msg::kPurgeReply, std::move(reply), m.header);
}

void Hub::resubmit_request(const std::vector<std::string>& route, const Message& m) {
  Json msg_ids = m.content.value("msg_ids", Json::array());
  if (!msg_ids.is_array()) msg_ids = Json::array();
  auto found = db_->find_records(Json{{"msg_id", Json{{"$in", msg_ids}}}},
                                 std::vector<std::string>{"header", "content", "buffers"});
  if (!found) {
    send_reply(route, msg::kResubmitReply, wrap_error(found.error()), m.header);
    return;
  }
  std::set<std::string> found_ids;
  for (const auto& r : *found) found_ids.insert(r.fields.value("msg_id", std::string()));
  std::vector<std::string> missing;
  for (const auto& id : msg_ids) {
    if (id.is_string() && found_ids.count(id.get<std::string>()) == 0) {
      missing.push_back(wire::python_repr(id.get<std::string>()));
    }
  }
  if (!missing.empty()) {
    std::string joined;
    for (const auto& s : missing) joined += (joined.empty() ? "" : ", ") + s;
    send_reply(route, msg::kResubmitReply, wire::wrap_key_error("No such msg(s): [" + joined + "]"),
               m.header);
    return;
  }
  Json resubmitted = Json::object();
  for (auto& rec : *found) {
    std::string old_id = rec.fields.value("msg_id", std::string());
    Json header = rec.fields.value("header", Json::object());
    Json fresh = session_.make_header(header.value("msg_type", std::string("apply_request")));
    std::string new_id = fresh["msg_id"];
    header["msg_id"] = new_id;
    header["date"] = fresh["date"];
    Message out;
    out.header = header;
    out.parent_header = header;  // as Python does (an artifact of Session.msg(parent=header))
    out.content = rec.fields.value("content", Json::object());
    for (const auto& b : rec.buffers) out.buffers.push_back(wire::frame(b));
    // Record first, so the scheduler's copy finds it and results land in it.
    db::TaskRecord record;
    record.fields = Json{{"msg_id", new_id},
                         {"header", header},
                         {"content", out.content},
                         {"metadata", Json::object()},
                         {"submitted", header["date"]},
                         {"client_uuid", header.value("session", Json())},
                         {"engine_uuid", nullptr},
                         {"started", nullptr},
                         {"completed", nullptr},
                         {"resubmitted", nullptr},
                         {"received", nullptr},
                         {"result_header", nullptr},
                         {"result_metadata", nullptr},
                         {"result_content", nullptr},
                         {"queue", "task"},
                         {"execute_input", nullptr},
                         {"execute_result", nullptr},
                         {"error", nullptr},
                         {"stdout", ""},
                         {"stderr", ""}};
    record.buffers = rec.buffers;
    auto added = db_->add_record(new_id, std::move(record));
    if (!added) db_error(added.error(), "add", new_id);
    pending_.insert(new_id);
    net::send_frames(s_.resubmit, session_.serialize(std::move(out)));
    resubmitted[old_id] = new_id;
    db::RecordUpdate u;
    u.fields = Json{{"resubmitted", new_id}};
    auto r = db_->update_record(old_id, std::move(u));
    if (!r) db_error(r.error(), "update", old_id);
  }
  send_reply(route, msg::kResubmitReply, Json{{"status", "ok"}, {"resubmitted", resubmitted}},
             m.header);
}

void Hub::shutdown_request(const std::vector<std::string>& route, const Message& m) {
  send_reply(route, msg::kShutdownReply, Json{{"status", "ok"}}, m.header);
  notify(msg::kShutdownNotification, Json{{"status", "ok"}}, m.header);
  if (shutting_down_) return;
  shutting_down_ = true;
  log_->info("hub::shutdown requested; stopping in 1 s");
  reactor_->call_later(std::chrono::seconds(1), [this] {
    db_->flush();
    if (on_shutdown) on_shutdown();
  });
}

void Hub::become_dask_request(const std::vector<std::string>& route, const Message& m) {
  if (!dask_) {
    // The scheduler listens where the controller does unless scheduler_args say otherwise.
    std::string host;
    const Json& info = options_.engine_connection_info;
    if (info.is_object() && info.contains("interface") && info["interface"].is_string()) {
      host = info["interface"].get<std::string>();
      if (auto p = host.find("://"); p != std::string::npos) host = host.substr(p + 3);
      if (host == "*" || host == "0.0.0.0" || host.rfind('/', 0) == 0) host.clear();
    }
    dask_ = std::make_unique<DaskScheduler>(host);
  }
  Json args = m.content.contains("scheduler_args") ? m.content["scheduler_args"] : Json::object();
  log_->info("Becoming dask.distributed scheduler: {}", args.dump());
  dask_->start(*reactor_, args, [this, route, parent = m.header](Json content) {
    if (content.value("status", std::string()) == "ok") {
      log_->info("dask.distributed scheduler running at {}",
                 content.value("address", std::string()));
    } else {
      log_->error("dask.distributed scheduler failed: {}", content.dump());
    }
    send_reply(route, "become_dask_reply", std::move(content), parent);
  });
}

void Hub::stop_distributed_request(const std::vector<std::string>& route, const Message& m) {
  if (dask_ && dask_->stop()) {
    log_->info("Stopping dask.distributed scheduler");
  } else {
    log_->info("No dask.distributed scheduler running.");
  }
  send_reply(route, "stop_distributed_reply", Json{{"status", "ok"}}, m.header);
}

// --- monitor traffic and records ----------------------------------------------------------------

void Hub::db_error(const db::DbError& e, const char* what, const std::string& msg_id) {
  if (db_limit_.allow()) {
    log_->error("db::DB Error ({}) for {}: {}: {}", what, msg_id, e.ename, e.evalue);
  }
}

void Hub::on_monitor_paced() {
  on_monitor();
  if (options_.monitor_pace.count() <= 0 || monitor_paused_) return;
  // Copies arrive one or two per task; at a client's pace every one would cost the hub a wake-up
  // of its own. The hub reads them at most once per pace instead (anything that reads the
  // hub's state reads the pipe first, see on_query and beat).
  monitor_paused_ = true;
  reactor_->remove(s_.monitor);
  reactor_->call_later(options_.monitor_pace, [this] {
    monitor_paused_ = false;
    reactor_->add(s_.monitor, [this] { on_monitor_paced(); });
  });
}

void Hub::on_monitor() {
  Frames frames;
  for (int budget = 0; budget < 2000 && net::recv_frames(s_.monitor, frames); ++budget) {
    if (frames.empty()) continue;
    std::string topic(wire::view(frames[0]));
    if (topic == "tracktask") {
      if (frames.size() == 3) {
        save_destination(std::string(wire::view(frames[1])), std::string(wire::view(frames[2])));
      }
      continue;
    }
    if (topic == "incontrol" || topic == "outcontrol") continue;
    Result<Message, wire::DecodeError> decoded = wire::DecodeError{};
    std::string destination;  // the engine a task request went to at once, if it did
    if (topic == service::kAuthenticatedTaskIn || topic == service::kAuthenticatedTaskOut) {
      // From the task thread, which checked the signature on arrival and passes what it parsed.
      service::AuthenticatedCopy* copy = frames.size() == 2 ? service::copy_in(frames[1]) : nullptr;
      if (copy == nullptr) continue;
      const bool request = topic == service::kAuthenticatedTaskIn;
      if (record_task_copy(request, *copy)) continue;
      destination = std::move(copy->engine);
      decoded = wire::Session::parse_authenticated(std::move(copy->frames), wire::PreParsed{});
      topic = request ? "intask" : "outtask";
    } else {
      frames.erase(frames.begin());
      // Copies of client and engine traffic: check signatures (the relays forward unchecked)
      // but do not record digests, which belong to the final receivers.
      decoded = session_.deserialize(std::move(frames), /*record_digest=*/false);
    }
    if (!decoded) {
      if (bad_monitor_limit_.allow()) {
        log_->warn("ignoring unverifiable {} traffic: {}", topic, decoded.error().what());
      }
      continue;
    }
    Message& m = decoded.value();
    if (topic == "in") {
      // [engine, client, ...]
      if (m.identities.empty()) continue;
      std::string engine = m.identities[0];
      save_request(std::move(m), "mux", &engine);
    } else if (topic == "intask") {
      save_request(std::move(m), "task", nullptr, destination.empty() ? nullptr : &destination);
    } else if (topic == "out" || topic == "outtask") {
      // [client, engine, ...]
      std::string engine = m.identities.size() > 1 ? m.identities[1] : std::string();
      save_result(std::move(m), engine);
    } else if (topic == "iopub") {
      save_iopub(m);
    }
  }
}

bool Hub::record_task_copy(bool request, service::AuthenticatedCopy& copy) {
  if (!copy.fields) return false;
  service::IndexedFields& x = *copy.fields;
  const Frames& f = copy.frames;
  // The task thread parsed header, metadata and a reply's parent; the content gets the same
  // checks here, without a tree.
  auto env = wire::Session::envelope(f);
  Result<Ok, wire::DecodeError> checked = env ? wire::Session::check(wire::view(f[env->content()]))
                                              : Result<Ok, wire::DecodeError>(env.error());
  if (!checked) {
    if (bad_monitor_limit_.allow()) {
      log_->warn("ignoring unverifiable {} traffic: {}", request ? "intask" : "outtask",
                 checked.error().what());
    }
    return true;
  }
  const wire::Envelope& e = *env;
  // the record keeps the parts as text (db::raw_json)
  auto take = [&](MessageParts& p) {
    p.header = db::raw_json(wire::view(f[e.header()]));
    p.metadata = db::raw_json(wire::view(f[e.metadata()]));
    p.content = db::raw_json(wire::view(f[e.content()]));
    p.buffers = to_buffers(f, e.first_buffer());
  };
  if (request) {
    RequestParts r;
    take(r);
    r.msg_id = std::move(x.msg_id);
    r.submitted = std::move(x.date);
    r.client_uuid = std::move(x.session);
    r.label = std::move(x.label);
    record_request(std::move(r), "task", nullptr, copy.engine.empty() ? nullptr : &copy.engine);
  } else {
    ResultParts r;
    take(r);
    r.msg_id = std::move(x.msg_id);
    r.engine = std::move(x.engine);
    r.started = std::move(x.started);
    r.completed = std::move(x.date);
    record_result(std::move(r));
  }
  return true;
}

void Hub::save_request(Message&& m, const char* queue, const std::string* engine,
                       const std::string* task_engine) {
  RequestParts r;
  r.msg_id = m.msg_id();
  r.submitted = m.header.value("date", Json());
  r.client_uuid = m.header.value("session", Json());
  if (auto l = m.metadata.find("label"); l != m.metadata.end()) r.label = *l;
  take_parts(m, r);
  record_request(std::move(r), queue, engine, task_engine);
}

void Hub::record_request(RequestParts&& r, const char* queue, const std::string* engine,
                         const std::string* task_engine) {
  const std::string& msg_id = r.msg_id;
  if (msg_id.empty()) return;
  int eid = -1;
  if (engine != nullptr) {
    auto it = by_uuid_.find(*engine);
    if (it == by_uuid_.end()) {
      log_->error("queue::target {} not registered", *engine);
    } else {
      eid = it->second;
    }
  }
  Json fields = Json::object();
  // Room for every field of a record (protocol.md 8.1): the insertion-ordered object is a vector,
  // and growing it field by field moved the whole record several times per task.
  fields.get_ref<Json::object_t&>().reserve(kRecordFields);
  fields["msg_id"] = msg_id;
  fields["header"] = std::move(r.header);
  fields["metadata"] = std::move(r.metadata);
  fields["content"] = std::move(r.content);
  fields["submitted"] = std::move(r.submitted);
  fields["client_uuid"] = std::move(r.client_uuid);
  const std::string* destination = engine != nullptr ? engine : task_engine;
  if (task_engine != nullptr && by_uuid_.count(*task_engine) == 0) destination = nullptr;
  fields["engine_uuid"] = destination != nullptr ? Json(*destination) : Json();
  fields["queue"] = queue;
  if (r.label) fields["label"] = std::move(*r.label);
  if (db_->contains(msg_id)) {
    db::RecordUpdate u;
    u.fields = std::move(fields);
    u.buffers = std::move(r.buffers);
    auto st = db_->update_record(msg_id, std::move(u));
    if (!st) db_error(st.error(), "update", msg_id);
  } else {
    db::TaskRecord rec;
    rec.fields = std::move(fields);
    for (const char* k : {"started", "completed", "resubmitted", "received", "result_header",
                          "result_metadata", "result_content", "execute_input", "execute_result",
                          "error"}) {
      rec.fields[k] = nullptr;
    }
    rec.fields["stdout"] = "";
    rec.fields["stderr"] = "";
    rec.buffers = std::move(r.buffers);
    auto st = db_->add_record(msg_id, std::move(rec));
    if (!st) db_error(st.error(), "add", msg_id);
  }
  pending_.insert(msg_id);
  if (eid >= 0) {
    engines_.at(eid).queue.insert(msg_id);
    owner_[msg_id] = eid;
  } else if (task_engine != nullptr) {
    assign_task(msg_id, *task_engine);  // as a tracktask message would
  } else if (engine == nullptr) {
    unassigned_.insert(msg_id);
  }
}

bool Hub::assign_task(const std::string& msg_id, const std::string& engine) {
  unassigned_.erase(msg_id);
  auto it = by_uuid_.find(engine);
  if (it == by_uuid_.end()) return false;
  // A retried task moves to its new engine.
  auto prev = owner_.find(msg_id);
  if (prev != owner_.end()) {
    auto e = engines_.find(prev->second);
    if (e != engines_.end()) e->second.tasks.erase(msg_id);
  }
  engines_.at(it->second).tasks.insert(msg_id);
  owner_[msg_id] = it->second;
  return true;
}

void Hub::save_destination(const std::string& msg_id, const std::string& engine) {
  if (!assign_task(msg_id, engine)) return;
  db::RecordUpdate u;
  u.fields = Json{{"engine_uuid", engine}};
  auto r = db_->update_record(msg_id, std::move(u));
  if (!r) db_error(r.error(), "update", msg_id);
}

void Hub::complete(const std::string& msg_id, const std::string& engine_uuid) {
  pending_.erase(msg_id);
  if (completed_ids_.insert(msg_id).second) {
    completed_order_.push_back(msg_id);
    if (completed_order_.size() > options_.completed_window) {
      completed_ids_.erase(completed_order_.front());
      completed_order_.pop_front();
    }
  }
  unassigned_.erase(msg_id);
  int eid = -1;
  auto o = owner_.find(msg_id);
  if (o != owner_.end()) {
    eid = o->second;
    owner_.erase(o);
  } else {
    auto b = by_uuid_.find(engine_uuid);
    if (b != by_uuid_.end()) eid = b->second;
  }
  auto e = engines_.find(eid);
  if (e == engines_.end()) return;
  e->second.queue.erase(msg_id);
  e->second.tasks.erase(msg_id);
  e->second.completed += 1;
  e->second.recent.push_back(msg_id);
  if (e->second.recent.size() > options_.recent_completed) e->second.recent.pop_front();
}

void Hub::save_result(Message&& m, const std::string& engine_hint) {
  ResultParts r;
  r.msg_id = m.parent_header.value("msg_id", std::string());
  r.engine = m.metadata.value("engine", engine_hint);
  r.started = m.metadata.value("started", Json());
  r.completed = m.header.value("date", Json());
  take_parts(m, r);
  record_result(std::move(r));
}

void Hub::record_result(ResultParts&& r) {
  const std::string& msg_id = r.msg_id;
  if (msg_id.empty()) {
    log_->error("result without a parent msg_id; ignored");
    return;
  }
  db::RecordUpdate u;
  u.fields.get_ref<Json::object_t&>().reserve(8);
  u.fields["result_header"] = std::move(r.header);
  u.fields["result_metadata"] = std::move(r.metadata);
  u.fields["result_content"] = std::move(r.content);
  u.fields["started"] = std::move(r.started);
  u.fields["completed"] = std::move(r.completed);
  u.fields["received"] = iso8601_now();
  if (!r.engine.empty()) u.fields["engine_uuid"] = r.engine;
  u.result_buffers = std::move(r.buffers);
  auto st = db_->update_record(msg_id, std::move(u));
  if (!st) db_error(st.error(), "update", msg_id);
  complete(msg_id, r.engine);
}

void Hub::save_iopub(const Message& m) {
  std::string type = m.msg_type();
  if (type == msg::kShutdownReply) {
    auto it = by_uuid_.find(m.header.value("session", std::string()));
    if (it != by_uuid_.end()) drop_engine(it->second, "shutdown");
    return;
  }
  if (type == msg::kStatus) return;
  std::string msg_id = m.parent_header.value("msg_id", std::string());
  if (msg_id.empty()) return;
  Json fields = Json::object();
  if (type == msg::kStream) {
    std::string name = m.content.value("name", std::string());
    if (name != "stdout" && name != "stderr") return;
    std::string prior;
    auto rec = db_->get_record(msg_id);
    if (rec) prior = rec->fields.value(name, std::string());
    fields[name] = prior + m.content.value("text", std::string());
  } else if (type == msg::kError) {
    fields["error"] = m.content;
  } else if (type == msg::kExecuteInput) {
    fields["execute_input"] = m.content.value("code", Json());
  } else if (type == msg::kExecuteResult) {
    fields["execute_result"] = m.content;
  } else if (type == msg::kDisplayData) {
    fields["display_data"] = m.content;
  } else {
    return;
  }
  if (!db_->contains(msg_id)) {
    // Output seen before the request copy: a stub record the request merges into.
    db::TaskRecord rec;
    rec.fields = Json{{"msg_id", msg_id}, {"stdout", ""}, {"stderr", ""}};
    for (auto& [k, v] : fields.items()) rec.fields[k] = v;
    auto r = db_->add_record(msg_id, std::move(rec));
    if (!r) db_error(r.error(), "add", msg_id);
    return;
  }
  db::RecordUpdate u;
  u.fields = std::move(fields);
  auto r = db_->update_record(msg_id, std::move(u));
  if (!r) db_error(r.error(), "update", msg_id);
}

}  // namespace ipp::controller::hub
