#include "task_service.hpp"

#include "monitor_copy.hpp"

#include <ipp/net/frames_io.hpp>
#include <ipp/util/ids.hpp>
#include <ipp/wire/errors.hpp>
#include <ipp/wire/msg_types.hpp>


namespace ipp::controller::service {

using wire::Frames;
using wire::Json;

TaskService::TaskService(zmq::socket_t client, zmq::socket_t engine, zmq::socket_t monitor,
                         zmq::socket_t events, wire::SessionConfig session,
                         std::optional<sched::TaskScheduler::Options> scheduler)
    : client_(std::move(client)),
      engine_(std::move(engine)),
      monitor_(std::move(monitor)),
      events_(std::move(events)),
      session_(std::move(session)),
      log_(log::get("task")),
      problems_(log_) {
  if (scheduler) scheduler_.emplace(*scheduler);
}

void TaskService::attach(net::Reactor& reactor) {
  reactor_ = &reactor;
  reactor.call_every(problems_.period(), [this] { problems_.flush(); });
  if (!scheduler_) {
    reactor.add(client_, [this] { pure_from_client(); });
    reactor.add(engine_, [this] { pure_from_engine(); });
    reactor.add(events_, [this] { from_hub(); });
    // A DEALER with no connected engine refuses to send; retry what waits.
    reactor.call_every(std::chrono::milliseconds(50), [this] { flush_pure(); });
    return;
  }
  reactor.add(client_, [this] { from_client(); });
  reactor.add(engine_, [this] { from_engine(); });
  reactor.add(events_, [this] { from_hub(); });
}

void TaskService::monitor(std::string_view topic, const Frames& frames) {
  Frames copy;
  copy.reserve(frames.size() + 1);
  copy.push_back(wire::frame(topic));
  for (const auto& f : frames) copy.push_back(net::share(f));
  // Blocking on a bounded queue: back-pressure from a busy hub (see relays.cpp).
  net::send_frames(monitor_, std::move(copy), /*block=*/true);
}

void TaskService::monitor_authenticated(std::string_view topic, const Frames& frames,
                                        std::optional<IndexedFields> fields,
                                        std::string engine) {
  auto copy = std::make_unique<AuthenticatedCopy>();
  copy->fields = std::move(fields);
  copy->engine = std::move(engine);
  copy->frames = net::share_all(frames);
  Frames out;
  out.reserve(2);
  out.push_back(wire::frame(topic));
  out.push_back(copy_frame(std::move(copy)));
  net::send_frames(monitor_, std::move(out), /*block=*/true);
}

void TaskService::add_status(status::StatusSnapshot& out) const {
  out.messages["task"] += messages_;
  if (scheduler_) out.retried = scheduler_->retried_count();
  problems_.add_totals(out.dropped);
}

void TaskService::from_hub() {
  Frames frames;
  while (net::recv_frames(events_, frames)) {
    if (!scheduler_) {
      flush_pure();
      continue;
    }
    if (frames.size() > 3 && wire::view(frames[0]) == "restore") {
      restore_task(std::move(frames));
      continue;
    }
    if (frames.size() != 2) continue;
    std::string what(wire::view(frames[0]));
    std::string uuid(wire::view(frames[1]));
    auto now = std::chrono::steady_clock::now();
    if (what == "register") {
      apply(scheduler_->engine_registered(uuid, now), nullptr);
    } else if (what == "unregister") {
      apply(scheduler_->engine_unregistered(uuid, now), nullptr);
    } else if (what == "drain") {
      apply(scheduler_->drain_engine(uuid, now), nullptr);
    } else if (what == "undrain") {
      apply(scheduler_->undrain_engine(uuid, now), nullptr);
    } else if (what == "lost") {
      // Take in the replies already waiting first: one the engine sent before it died counts.
      from_engine();
      now = std::chrono::steady_clock::now();
      apply(scheduler_->engine_unregistered(uuid, now, /*lost=*/true), nullptr);
    }
  }
  rearm();
}

void TaskService::from_client() {
  Frames frames;
  auto now = std::chrono::steady_clock::now();
  for (int budget = 0; budget < 1000 && net::recv_frames(client_, frames); ++budget) {
    ++messages_;
    // Python's scheduler checks the signature without recording it (content=False).
    auto raw = session_.verify(std::move(frames), /*record_digest=*/false);
    Result<Ok, wire::DecodeError> header = wire::DecodeError{};
    if (raw) header = request_header_scan_.run(wire::view(raw->frames[raw->env.header()]));
    if (!raw || !header) {
      wire::DecodeError err = raw ? header.error() : raw.error();
      if (raw) err.detail = "header";
      problems_.report(spdlog::level::warn, "unverifiable task request",
                       [&] { return fmt::format("dropping a task request: {}", err.what()); });
      continue;
    }
    if (raw->identity_count() < 1) continue;
    const auto& env = raw->env;
    std::string msg_id = request_header_scan_.string_or("msg_id");
    const std::string_view md_text = wire::view(raw->frames[env.metadata()]);
    if (!request_md_scan_.run(md_text) || msg_id.empty()) {
      problems_.report(spdlog::level::warn, "task request with bad metadata or no msg_id", [] {
        return std::string("dropping a task request with bad metadata or no msg_id");
      });
      continue;
    }
    if (stored_.count(msg_id) != 0) {
      problems_.report(spdlog::level::warn, "duplicate task request", [&] {
        return fmt::format("dropping a duplicate task {}", log::printable(msg_id));
      });
      continue;
    }
    // The scheduler reads five metadata fields; a tree of the whole metadata is built only when
    // one of them is a non-empty list or dict (dependencies, several targets).
    Json md = Json::object();
    std::optional<Json> label;
    if (request_md_scan_.nested()) {
      md = wire::Session::unpack(md_text).value();  // the scan checked it
      if (auto l = md.find("label"); l != md.end()) label = *l;
    } else {
      for (const char* key : {"targets", "retries", "timeout", "after", "follow"}) {
        if (const Json* v = request_md_scan_.find(key)) md[key] = *v;
      }
      if (const Json* l = request_md_scan_.find("label")) label = *l;
    }
    if (auto why = sched::check_task_request(request_header_scan_.string_or("msg_type"), md)) {
      refuse(std::string(raw->identity(0)), wire::view(raw->frames[env.header()]), *why);
      continue;
    }
    // an engine that cannot decode a request drops it and never answers: it must not get one
    if (auto parts = forward_check_.run(raw->frames, env); !parts) {
      refuse(std::string(raw->identity(0)), wire::view(raw->frames[env.header()]),
             sched::RequestError{"ValueError", "the request cannot be decoded: " +
                                                   parts.error().what()});
      continue;
    }
    auto spec = sched::TaskSpec::from_metadata(msg_id, md);
    auto actions = scheduler_->submit(std::move(spec), now);
    // the usual case: the task goes to an engine at once, and its copy tells the hub where
    std::string engine;
    for (const auto& action : actions) {
      const auto* d = std::get_if<sched::Dispatch>(&action);
      if (d != nullptr && d->msg_id == msg_id) {
        engine = d->engine_uuid;
        break;
      }
    }
    IndexedFields fields;
    fields.msg_id = msg_id;
    fields.date = request_header_scan_.value_or_null("date");
    fields.session = request_header_scan_.value_or_null("session");
    fields.label = std::move(label);
    monitor_authenticated(kAuthenticatedTaskIn, raw->frames, std::move(fields), engine);
    if (const Json* session = request_header_scan_.find("session");
        session != nullptr && session->is_string()) {
      if (routes_) routes_->note(session->get_ref<const std::string&>(), raw->identity(0));
    }
    Stored s;
    s.client_id = std::string(raw->identity(0));
    s.frames = net::share_all(raw->frames, env.delim);
    stored_.emplace(msg_id, std::move(s));
    apply(std::move(actions), nullptr, std::nullopt,
          engine.empty() ? std::string_view() : msg_id);
  }
  rearm();
}

void TaskService::from_engine() {
  Frames frames;
  auto now = std::chrono::steady_clock::now();
  for (int budget = 0; budget < 1000 && net::recv_frames(engine_, frames); ++budget) {
    ++messages_;
    // [engine, client, <IDS|MSG>, ...]
    auto raw = session_.verify(std::move(frames), /*record_digest=*/false);
    if (!raw || raw->identity_count() < 2) {
      problems_.report(spdlog::level::warn, "unverifiable engine reply",
                       [] { return std::string("dropping a bad engine reply"); });
      continue;
    }
    const auto& env = raw->env;
    if (!reply_header_scan_.run(wire::view(raw->frames[env.header()])) ||
        !reply_md_scan_.run(wire::view(raw->frames[env.metadata()])) ||
        !parent_scan_.run(wire::view(raw->frames[env.parent()])) ||
        !forward_check_.run(raw->frames, env)) {
      problems_.report(spdlog::level::warn, "engine reply with bad JSON",
                       [] { return std::string("dropping an engine reply with bad JSON"); });
      continue;
    }
    std::string engine(raw->identity(0));
    std::string msg_id = parent_scan_.string_or("msg_id");
    bool ok = reply_md_scan_.string_or("status") == "ok";
    const Json* met = reply_md_scan_.find("dependencies_met");
    bool deps_met = met == nullptr || !met->is_boolean() || met->get<bool>();
    IndexedFields fields;
    fields.msg_id = msg_id;
    fields.date = reply_header_scan_.value_or_null("date");
    fields.engine = reply_md_scan_.string_or("engine", engine);
    fields.started = reply_md_scan_.value_or_null("started");
    fields.ok = ok;
    // Client gets [client, engine, <IDS|MSG>, ...].
    std::swap(raw->frames[0], raw->frames[1]);
    if (restored_pending_ != 0) {
      // A task read back from the store goes to its client's route as it is now.
      if (auto st = stored_.find(msg_id); st != stored_.end() && !st->second.session.empty()) {
        raw->frames[0] = wire::frame(route_of(st->second));
      }
    }
    if (!scheduler_->knows(msg_id)) {
      // Scheduled by this controller's predecessor (a restart with --restore): nothing to
      // schedule, but the result is the client's and belongs in the task record.
      log_->debug("reply for task {} scheduled before a restart: passed on", log::printable(msg_id));
      monitor_authenticated(kAuthenticatedTaskOut, raw->frames, std::move(fields));
      net::send_frames(client_, std::move(raw->frames));
      continue;
    }
    apply(scheduler_->reply(msg_id, engine, ok, deps_met, now), &raw->frames, std::move(fields));
  }
  rearm();
}

void TaskService::send_to_engine(const std::string& msg_id, const std::string& engine,
                                 bool tell_hub) {
  auto it = stored_.find(msg_id);
  if (it == stored_.end()) return;
  Frames out;
  out.reserve(it->second.frames.size() + 2);
  out.push_back(wire::frame(engine));
  out.push_back(wire::frame(route_of(it->second)));
  for (const auto& f : it->second.frames) out.push_back(net::share(f));
  if (!net::send_frames(engine_, std::move(out))) {
    log_->warn("engine {} is not connected; task {} not delivered", log::printable(engine),
               log::printable(msg_id));
  }
  if (!tell_hub) return;
  Frames track;
  track.push_back(wire::frame("tracktask"));
  track.push_back(wire::frame(msg_id));
  track.push_back(wire::frame(engine));
  net::send_frames(monitor_, std::move(track), /*block=*/true);
}

void TaskService::fail(const std::string& msg_id, const std::string& ename,
                       const std::string& evalue, const std::string* engine) {
  auto it = stored_.find(msg_id);
  if (it == stored_.end()) return;
  wire::Message m;
  m.header = session_.make_header(wire::msg::kApplyReply);
  // The request was authenticated on arrival; its header parses.
  auto header = wire::Session::unpack(wire::view(it->second.frames[2]));
  m.parent_header = header ? std::move(header).value() : Json::object();
  m.content = wire::wrap_exception(ename, evalue, "task scheduler");
  m.identities = {route_of(it->second)};
  if (engine != nullptr) {
    m.identities.push_back(*engine);
    m.metadata = Json{{"status", "error"}, {"engine", *engine}, {"date", iso8601_now()}};
  }
  Frames out = session_.serialize(std::move(m));
  monitor_authenticated(kAuthenticatedTaskOut, out, std::nullopt);
  net::send_frames(client_, std::move(out));
}

void TaskService::refuse(const std::string& client_id, std::string_view header_text,
                         const sched::RequestError& why) {
  problems_.report(spdlog::level::warn, "refused request on the task port", [&] {
    return fmt::format("refusing a request on the task port from client {}: {}: {}",
                       log::printable(client_id), why.ename, log::printable(why.evalue, 200));
  });
  wire::Message m;
  m.header = session_.make_header(wire::msg::kApplyReply);
  auto header = wire::Session::unpack(header_text);  // scanned already: it parses
  m.parent_header = header ? std::move(header).value() : Json::object();
  m.metadata = Json{{"status", "error"}, {"dependencies_met", true}};
  m.content = wire::wrap_exception(why.ename, why.evalue, "task scheduler");
  m.identities = {client_id};
  net::send_frames(client_, session_.serialize(std::move(m)));
}

void TaskService::apply(sched::Actions&& actions, Frames* reply,
                        std::optional<IndexedFields> reply_fields, std::string_view hub_knows) {
  for (auto& action : actions) {
    if (auto* d = std::get_if<sched::Dispatch>(&action)) {
      send_to_engine(d->msg_id, d->engine_uuid, d->msg_id != hub_knows);
    } else if (std::holds_alternative<sched::Relay>(action)) {
      if (reply != nullptr) {
        monitor_authenticated(kAuthenticatedTaskOut, *reply, std::move(reply_fields));
        net::send_frames(client_, std::move(*reply));
        reply = nullptr;
      }
    } else if (auto* f = std::get_if<sched::Fail>(&action)) {
      fail(f->msg_id, f->ename, f->evalue, nullptr);
    } else if (auto* e = std::get_if<sched::EngineFailure>(&action)) {
      fail(e->msg_id, "EngineError", e->evalue, &e->engine_uuid);
    } else if (auto* g = std::get_if<sched::Forget>(&action)) {
      auto it = stored_.find(g->msg_id);
      if (it == stored_.end()) continue;
      if (!it->second.session.empty()) --restored_pending_;
      stored_.erase(it);
    }
  }
}

// --- tasks read back from the store after a restart -----------------------------------------

void TaskService::keep_client_routes(std::filesystem::path file, bool load) {
  routes_.emplace(std::move(file), log_);
  if (load) routes_->load();
}

const std::string& TaskService::route_of(const Stored& s) const {
  if (s.session.empty() || !routes_) return s.client_id;
  const std::string* route = routes_->find(s.session);
  return route != nullptr ? *route : s.client_id;
}

void TaskService::restore_task(Frames&& frames) {
  // [restore, engine uuid or "", session, <IDS|MSG>, signature, header, parent, metadata,
  //  content, buffers...], built by the hub from the task store.
  constexpr std::size_t kWire = 3;
  if (frames.size() < kWire + 6) return;
  auto header = wire::Session::unpack(wire::view(frames[kWire + 2]));
  auto md = wire::Session::unpack(wire::view(frames[kWire + 4]));
  if (!header || !header->is_object()) return;
  const std::string msg_id = header->value("msg_id", std::string());
  if (msg_id.empty() || stored_.count(msg_id) != 0) return;
  const std::string engine(wire::view(frames[1]));
  Stored s;
  s.session = std::string(wire::view(frames[2]));
  if (s.session.empty()) s.session = " ";  // routed by nothing better than the fallback
  const std::string* route = routes_ ? routes_->find(s.session) : nullptr;
  if (route == nullptr) {
    log_->warn("task {} restored, but no route to its client (session {}) was saved: its "
               "result will be in the task store only", msg_id, s.session);
  } else {
    s.client_id = *route;
  }
  s.frames.reserve(frames.size() - kWire);
  for (std::size_t i = kWire; i < frames.size(); ++i) s.frames.push_back(std::move(frames[i]));
  stored_.emplace(msg_id, std::move(s));
  ++restored_pending_;
  log_->debug("task {} restored ({})", log::printable(msg_id),
              engine.empty() ? "waiting" : "on " + log::printable(engine));
  auto spec = sched::TaskSpec::from_metadata(msg_id, md ? *md : Json::object());
  apply(scheduler_->restore(std::move(spec), engine, std::chrono::steady_clock::now()), nullptr);
}

void TaskService::rearm() {
  if (!scheduler_ || reactor_ == nullptr) return;
  auto next = scheduler_->next_deadline();
  if (!next) {
    if (armed_for_) {
      reactor_->cancel(timer_);
      armed_for_.reset();
    }
    return;
  }
  if (armed_for_ && *armed_for_ <= *next) return;
  if (armed_for_) reactor_->cancel(timer_);
  armed_for_ = *next;
  auto delay = *next - std::chrono::steady_clock::now();
  if (delay < Duration::zero()) delay = Duration::zero();
  timer_ = reactor_->call_later(delay, [this] {
    armed_for_.reset();
    apply(scheduler_->tick(std::chrono::steady_clock::now()), nullptr);
    rearm();
  });
}

// --- pure scheme: ROUTER (clients) -> DEALER (engines), round robin, no algorithm ----------

void TaskService::pure_from_client() {
  Frames frames;
  for (int budget = 0; budget < 1000 && net::recv_frames(client_, frames); ++budget) {
    ++messages_;
    monitor("intask", frames);
    pure_pending_.push_back(std::move(frames));
  }
  flush_pure();
}

void TaskService::flush_pure() {
  while (!pure_pending_.empty()) {
    // Try on a shared copy so a refused send keeps the request.
    wire::Frames attempt = net::share_all(pure_pending_.front());
    if (!net::send_frames(engine_, std::move(attempt))) return;
    pure_pending_.pop_front();
  }
}

void TaskService::pure_from_engine() {
  Frames frames;
  for (int budget = 0; budget < 1000 && net::recv_frames(engine_, frames); ++budget) {
    ++messages_;
    monitor("outtask", frames);
    net::send_frames(client_, std::move(frames));
  }
}

}  // namespace ipp::controller::service
