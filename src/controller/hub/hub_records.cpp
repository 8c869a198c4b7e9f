// The hub's task records: copies of requests, results and output from the relays and the task
// scheduler (the monitor pipe) become records in the task store (protocol.md 8) and entries in
// the task ledger.
#include "hub.hpp"

#include "../service/monitor_copy.hpp"

#include <ipp/net/frames_io.hpp>
#include <ipp/util/ids.hpp>
#include <ipp/wire/errors.hpp>
#include <ipp/wire/msg_types.hpp>

namespace ipp::controller::hub {

using wire::Frames;
using wire::Json;
using wire::Message;
namespace msg = wire::msg;

namespace {

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

// The fields of a whole task record (protocol.md 8.1), with room for label and display_data.
constexpr std::size_t kRecordFields = 24;

}  // namespace

void Hub::db_error(const db::DbError& e, const char* what, const std::string& msg_id) {
  problems_.report(spdlog::level::err, "task store error", [&] {
    return fmt::format("db::DB Error ({}) for {}: {}: {}", what, log::printable(msg_id), e.ename,
                       log::printable(e.evalue, 300));
  });
}

bool Hub::culled(const std::string& msg_id, const char* what) {
  if (!db_->culled(msg_id)) return false;
  log_->debug("{} for {} dropped: its record was culled for size", what, log::printable(msg_id));
  return true;
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
      problems_.report(spdlog::level::warn, "unverifiable traffic", [&] {
        return fmt::format("ignoring unverifiable {} traffic: {}", topic, decoded.error().what());
      });
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
      save_result(std::move(m), engine,
                  topic == "out" ? status::TaskKind::Direct : status::TaskKind::LoadBalanced);
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
    problems_.report(spdlog::level::warn, "unverifiable traffic", [&] {
      return fmt::format("ignoring unverifiable {} traffic: {}", request ? "intask" : "outtask",
                         checked.error().what());
    });
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
    r.kind = status::TaskKind::LoadBalanced;
    r.ok = x.ok;
    if (!ledger_.is_pending(r.msg_id)) r.request_header = db::raw_json(wire::view(f[e.parent()]));
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
  std::optional<int> eid;
  if (engine != nullptr) {
    eid = engine_id(*engine);
    if (!eid) {
      problems_.report(spdlog::level::err, "request for an engine not registered", [&] {
        return fmt::format("queue::target {} not registered", log::printable(*engine));
      });
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
  if (task_engine != nullptr && !engine_id(*task_engine)) destination = nullptr;
  fields["engine_uuid"] = destination != nullptr ? Json(*destination) : Json();
  fields["queue"] = queue;
  stats_.submitted(engine != nullptr ? status::TaskKind::Direct : status::TaskKind::LoadBalanced);
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
  if (engine != nullptr) {
    ledger_.request_direct(msg_id, eid);
  } else {
    ledger_.request_task(msg_id);
    if (task_engine != nullptr) ledger_.assign(msg_id, engine_id(*task_engine));  // as tracktask
  }
}

void Hub::save_destination(const std::string& msg_id, const std::string& engine) {
  auto eid = engine_id(engine);
  ledger_.assign(msg_id, eid);
  if (!eid || culled(msg_id, "destination")) return;
  db::RecordUpdate u;
  u.fields = Json{{"engine_uuid", engine}};
  auto r = db_->update_record(msg_id, std::move(u));
  if (!r) db_error(r.error(), "update", msg_id);
}

void Hub::save_result(Message&& m, const std::string& engine_hint, status::TaskKind kind) {
  ResultParts r;
  r.kind = kind;
  r.ok = m.metadata.value("status", Json()) == "ok" ||
         (!m.metadata.contains("status") && m.content.value("status", Json()) == "ok");
  r.msg_id = m.parent_header.value("msg_id", std::string());
  r.engine = m.metadata.value("engine", engine_hint);
  r.started = m.metadata.value("started", Json());
  r.completed = m.header.value("date", Json());
  if (!ledger_.is_pending(r.msg_id)) r.request_header = std::move(m.parent_header);
  take_parts(m, r);
  record_result(std::move(r));
}

void Hub::record_result(ResultParts&& r) {
  const std::string& msg_id = r.msg_id;
  if (msg_id.empty()) {
    problems_.report(spdlog::level::err, "result without a parent msg_id",
                     [] { return std::string("result without a parent msg_id; ignored"); });
    return;
  }
  const std::optional<int> eid = engine_id(r.engine);
  count_result(r, eid);
  if (culled(msg_id, "result")) {
    ledger_.complete(msg_id, eid);
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
  if (!ledger_.is_pending(msg_id) && !db_->contains(msg_id)) {
    // A result for a request this controller never saw: submitted before a restart and not yet
    // in the store when the old controller died. Kept, so get_result and db_query find it.
    db::TaskRecord rec;
    rec.fields = Json{{"msg_id", msg_id}, {"stdout", ""}, {"stderr", ""}};
    if (r.request_header) {
      Json header = db::is_raw_json(*r.request_header)
                        ? Json::parse(db::raw_json_text(*r.request_header), nullptr, false)
                        : *r.request_header;
      if (!header.is_object()) header = Json::object();
      rec.fields["header"] = header;
      rec.fields["submitted"] = header.value("date", Json());
      rec.fields["client_uuid"] = header.value("session", Json());
    }
    rec.fields["metadata"] = Json::object();
    rec.fields["content"] = Json::object();
    for (auto& [k, v] : u.fields.items()) rec.fields[k] = std::move(v);
    rec.result_buffers = std::move(*u.result_buffers);
    auto added = db_->add_record(msg_id, std::move(rec));
    if (!added) db_error(added.error(), "add", msg_id);
  } else {
    auto st = db_->update_record(msg_id, std::move(u));
    if (!st) db_error(st.error(), "update", msg_id);
  }
  ledger_.complete(msg_id, eid);
}

void Hub::save_iopub(const Message& m) {
  std::string type = m.msg_type();
  if (type == msg::kShutdownReply) {
    if (auto id = engine_id(m.header.value("session", std::string()))) {
      apply(registry_.unregister(*id, Departure::Shutdown));
    }
    return;
  }
  if (type == msg::kStatus) return;
  std::string msg_id = m.parent_header.value("msg_id", std::string());
  if (msg_id.empty() || culled(msg_id, "output")) return;
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

namespace ipp::controller::hub {

void Hub::restore_unfinished_tasks() {
  auto found = db_->find_records(Json{{"completed", nullptr}});
  if (!found) {
    log_->error("cannot read the unfinished tasks from the task store: {}: {}",
                found.error().ename, found.error().evalue);
    return;
  }
  std::size_t waiting = 0, running = 0, direct = 0;
  for (auto& rec : *found) {
    db::materialize(rec.fields);
    const Json& f = rec.fields;
    const std::string msg_id = f.value("msg_id", std::string());
    const Json& header = f.contains("header") ? f["header"] : Json();
    if (msg_id.empty() || !header.is_object() || !f.value("resubmitted", Json()).is_null()) {
      continue;
    }
    const Json engine = f.value("engine_uuid", Json());
    const std::string uuid = engine.is_string() ? engine.get<std::string>() : std::string();
    const std::string queue = f.value("queue", std::string());
    if (queue == "mux") {
      // Its client knows the engine: a dead engine's departure fails it there, and here the
      // ledger fails the record with it.
      ledger_.request_direct(msg_id, engine_id(uuid));
      ++direct;
      continue;
    }
    if (queue != "task") continue;
    ledger_.request_task(msg_id);
    if (!uuid.empty()) ledger_.assign(msg_id, engine_id(uuid));
    (uuid.empty() ? waiting : running) += 1;
    Message m;
    m.header = header;
    m.metadata = f.value("metadata", Json::object());
    m.content = f.value("content", Json::object());
    if (!m.metadata.is_object()) m.metadata = Json::object();
    for (const auto& b : rec.buffers) m.buffers.push_back(wire::frame(b));
    Frames ev;
    ev.push_back(wire::frame("restore"));
    ev.push_back(wire::frame(uuid));
    ev.push_back(wire::frame(header.value("session", std::string())));
    for (auto& part : session_.serialize(std::move(m))) ev.push_back(std::move(part));
    net::send_frames(s_.sched_events, std::move(ev));
  }
  if (waiting + running + direct == 0) return;
  log_->info("Restored {} unfinished tasks from the task store: {} load-balanced waiting for an "
             "engine, {} load-balanced and {} direct on engines",
             waiting + running + direct, waiting, running, direct);
}

}  // namespace ipp::controller::hub
