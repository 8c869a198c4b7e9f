// The hub's answers to client queries (protocol.md 3.4-3.8): engine lists, queue status,
// results, history, db queries, purge, resubmit, shutdown and the dask.distributed hand-over.
#include "hub.hpp"

#include <ipp/net/frames_io.hpp>
#include <ipp/wire/errors.hpp>
#include <ipp/wire/msg_types.hpp>

#include <algorithm>

namespace ipp::controller::hub {

using wire::Frames;
using wire::Json;
using wire::Message;
namespace msg = wire::msg;

namespace {
Json wrap_error(const db::DbError& e) { return wire::wrap_exception(e.ename, e.evalue); }
}  // namespace

void Hub::connection_request(const std::vector<std::string>& route, const Message& m) {
  log_->debug("client::client {} connected",
              log::printable(m.header.value("session", std::string("?"))));
  Json engines = Json::object();
  for (const auto& [id, e] : registry_.engines()) engines[std::to_string(id)] = e.uuid;
  send_reply(route, msg::kConnectionReply, Json{{"status", "ok"}, {"engines", engines}}, m.header);
}

std::optional<std::vector<int>> Hub::validate_targets(const Json& targets, std::string& error) {
  std::vector<int> out;
  if (targets.is_null()) {
    for (const auto& [id, _] : registry_.engines()) out.push_back(id);
  } else {
    Json list = targets.is_array() ? targets : Json::array({targets});
    std::vector<std::string> bad;
    for (const auto& t : list) {
      if (t.is_number_integer()) {
        int id = t.get<int>();
        if (registry_.find(id) != nullptr) {
          out.push_back(id);
        } else {
          bad.push_back(std::to_string(id));
        }
      } else if (t.is_string()) {
        if (auto id = engine_id(t.get<std::string>())) {
          out.push_back(*id);
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
    static const TaskLedger::EngineTasks kNone;
    const TaskLedger::EngineTasks* found = ledger_.engine(id);
    const TaskLedger::EngineTasks& e = found != nullptr ? *found : kNone;
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
    const auto& unassigned = ledger_.unassigned();
    content["unassigned"] = Json(std::vector<std::string>(unassigned.begin(), unassigned.end()));
  } else {
    content["unassigned"] = ledger_.unassigned().size();
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
    if (ledger_.is_pending(id)) {
      pending.push_back(id);
      continue;
    }
    if (status_only) {
      if (ledger_.recently_completed(id)) {
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
    if (db_->culled(id)) {  // Python's KeyError: "Record '<id>' has been culled for size"
      send_reply(route, msg::kResultReply, wrap_error(db_->get_record(id).error()), m.header);
      return;
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
      if (id.is_string() && ledger_.is_pending(id.get<std::string>())) {
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
        const RegisteredEngine* engine = registry_.find(id);
        if (engine == nullptr) {
          reply = wire::wrap_exception("IndexError", "No such engine: " + eid.dump());
          break;
        }
        auto r = db_->drop_matching_records(
            Json{{"engine_uuid", engine->uuid}, {"completed", Json{{"$ne", nullptr}}}});
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
    ledger_.request_task(new_id);
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

}  // namespace ipp::controller::hub
