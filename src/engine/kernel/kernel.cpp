#include <ipp/engine/kernel.hpp>
#include <ipp/util/ids.hpp>
#include <ipp/util/log.hpp>
#include <ipp/wire/errors.hpp>
#include <ipp/wire/msg_types.hpp>

#include <unistd.h>

#include <csignal>
#include <memory>
#include <utility>

namespace ipp::engine {

using wire::Json;
namespace msg = wire::msg;

MsgIds::MsgIds(const std::string& session_id)
    : prefix_(session_id + "_" + std::to_string(::getpid()) + "_") {}

std::string MsgIds::next() { return prefix_ + std::to_string(counter_.fetch_add(1)); }

wire::Message make_message(wire::Session& session, MsgIds& ids, std::string_view msg_type,
                           Json content, Json parent, Json metadata) {
  wire::Message m =
      session.make(msg_type, std::move(content), std::move(parent), std::move(metadata));
  m.header["msg_id"] = ids.next();
  return m;
}

// ------------------------------------------------------------------------------- AbortSet
void AbortSet::add(const std::vector<std::string>& msg_ids) {
  std::lock_guard lock(mutex_);
  for (const auto& id : msg_ids) ids_.insert(id);
}

bool AbortSet::take(const std::string& msg_id) {
  std::lock_guard lock(mutex_);
  return ids_.erase(msg_id) > 0;
}

void AbortSet::abort_queued() {
  std::lock_guard lock(mutex_);
  abort_queued_ = true;
}

bool AbortSet::take_abort_queued() {
  std::lock_guard lock(mutex_);
  return std::exchange(abort_queued_, false);
}

std::size_t AbortSet::size() const {
  std::lock_guard lock(mutex_);
  return ids_.size();
}

// ------------------------------------------------------------------------------- metadata
Json init_metadata(const Json& request_metadata, const std::string& engine_uuid,
                   const std::string& started) {
  const Json empty = Json::object();
  const Json& md = request_metadata.is_object() ? request_metadata : empty;
  Json out = Json::object();
  out["started"] = started;
  out["dependencies_met"] = true;
  out["engine"] = engine_uuid;
  out["is_broadcast"] = md.value("is_broadcast", false);
  out["is_coalescing"] = md.value("is_coalescing", false);
  out["original_msg_id"] = md.contains("original_msg_id") ? md["original_msg_id"] : Json("");
  // 9.1 echoes the label; 7.1 clients ignore the extra key
  out["label"] = md.contains("label") ? md["label"] : Json(nullptr);
  return out;
}

void finish_metadata(Json& metadata, const Json& reply_content, const EngineIdentity& engine) {
  std::string status = reply_content.value("status", std::string("error"));
  metadata["status"] = status;
  if (status == "error") {
    if (reply_content.value("ename", std::string()) == "UnmetDependency") {
      metadata["dependencies_met"] = false;
    }
    metadata["engine_info"] = Json{{"engine_uuid", engine.uuid}, {"engine_id", engine.id}};
  }
}

std::string reply_type(std::string_view request_type) {
  auto pos = request_type.rfind('_');
  if (pos == std::string_view::npos) return std::string(request_type) + "_reply";
  return std::string(request_type.substr(0, pos)) + "_reply";
}

namespace {

Json engine_md(const std::string& uuid) {
  Json md = Json::object();
  md["engine"] = uuid;
  return md;
}

Json status_content(std::string_view state) {
  Json c = Json::object();
  c["execution_state"] = state;
  return c;
}

// Error content for a failure outside user code (the bridge itself failed): the same shape as
// ipyparallel's, so clients raise a RemoteError instead of hanging.
Json internal_error(const EngineIdentity& engine, std::string_view method, std::string_view what) {
  Json c = Json::object();
  c["status"] = "error";
  c["ename"] = "EngineError";
  c["evalue"] = std::string(what);
  c["traceback"] = Json::array({std::string("EngineError: ") + std::string(what)});
  c["engine_info"] =
      Json{{"engine_uuid", engine.uuid}, {"engine_id", engine.id}, {"method", method}};
  return c;
}

bool is_request(std::string_view type) {
  constexpr std::string_view kSuffix = "_request";
  return type.size() > kSuffix.size() && type.substr(type.size() - kSuffix.size()) == kSuffix;
}

// The error content for a request type this engine does not handle.
Json unknown_type_error(const EngineIdentity& engine, std::string_view channel,
                        std::string_view type) {
  Json c = internal_error(engine, channel, "Unknown message type: " + wire::python_repr(type));
  c["ename"] = "ValueError";
  c["traceback"] = Json::array({"ValueError: " + c["evalue"].get<std::string>()});
  return c;
}

}  // namespace

// ---------------------------------------------------------------------------- ShellHandler
ShellHandler::ShellHandler(EngineIdentity engine, Interpreter& interpreter, Publisher& publisher,
                           AbortSet& aborts, wire::Session& session, MsgIds& ids)
    : engine_(std::move(engine)),
      interpreter_(interpreter),
      publisher_(publisher),
      aborts_(aborts),
      session_(session),
      ids_(ids) {}

wire::Message ShellHandler::make_reply(const wire::Message& request, std::string_view type,
                                       Json content, Json metadata) {
  wire::Message r =
      make_message(session_, ids_, type, std::move(content), request.header, std::move(metadata));
  r.parent_text = request.header_text;  // the request's header as it came, not packed again
  r.identities = request.identities;
  return r;
}

void ShellHandler::publish_status(std::string_view state) {
  // a null parent is the request handed to set_parent at the start of handle(): this one
  publisher_.publish(engine_.topic("status"), std::string(msg::kStatus), status_content(state),
                     Json(nullptr), engine_md(engine_.uuid));
}

void ShellHandler::refuse(wire::Message&& request, std::string_view why, const Reply& reply) {
  const std::string type = request.msg_type();
  if (!is_request(type)) return;
  Json content = internal_error(engine_, "shell", "the request cannot be decoded: " +
                                                       std::string(why));
  content["ename"] = "ValueError";
  content["traceback"] = Json::array({"ValueError: " + content["evalue"].get<std::string>()});
  Json md = engine_md(engine_.uuid);
  finish_metadata(md, content, engine_);
  reply(make_reply(request, reply_type(type), std::move(content), std::move(md)));
}

bool ShellHandler::take_stop_on_error() { return std::exchange(stop_on_error_, false); }

void ShellHandler::handle(wire::Message&& request, const Reply& reply, bool queued_abort) {
  const std::string type = request.msg_type();
  const std::string msg_id = request.msg_id();
  publisher_.set_parent(request.header);
  publish_status("busy");

  bool by_id = aborts_.take(msg_id);
  if (by_id || (queued_abort && type == msg::kExecuteRequest)) {
    spdlog::info("Aborting {}: {}", log::printable(msg_id), log::printable(type));
    Json status = Json{{"status", "aborted"}};
    Json md = init_metadata(request.metadata, engine_.uuid, iso8601_now());
    finish_metadata(md, status, engine_);
    reply(make_reply(request, reply_type(type), status, std::move(md)));
    // ipyparallel's should_handle returns before the idle; ipykernel's _aborting path publishes it
    if (!by_id) publish_status("idle");
    return;
  }

  Json md = init_metadata(request.metadata, engine_.uuid, iso8601_now());
  Json content;
  wire::Frames buffers;
  if (type == msg::kApplyRequest) {
    spdlog::info("Handling {}: {}", type, log::printable(msg_id));
    try {
      ApplyOutcome out = interpreter_.apply(msg_id, request.buffers);
      content = std::move(out.content);
      buffers = std::move(out.buffers);
    } catch (const std::exception& e) {
      spdlog::error("apply_request {} failed in the engine: {}", log::printable(msg_id), e.what());
      content = internal_error(engine_, "apply", e.what());
      buffers.clear();
    }
  } else if (type == msg::kExecuteRequest) {
    spdlog::info("Handling {}: {}", type, log::printable(msg_id));
    try {
      content = interpreter_.execute(request.content);
    } catch (const std::exception& e) {
      spdlog::error("execute_request {} failed in the engine: {}", log::printable(msg_id),
                    e.what());
      content = internal_error(engine_, "execute", e.what());
      content["execution_count"] = 0;
      content["user_expressions"] = Json::object();
      content["payload"] = Json::array();
    }
    bool silent = request.content.value("silent", false);
    bool stop_on_error = request.content.value("stop_on_error", true);
    if (!silent && stop_on_error && content.value("status", std::string()) == "error") {
      stop_on_error_ = true;
    }
  } else if (type == msg::kKernelInfoRequest) {
    try {
      content = interpreter_.kernel_info();
    } catch (const std::exception& e) {
      content = Json{{"status", "error"}, {"ename", "EngineError"}, {"evalue", e.what()}};
    }
    reply(make_reply(request, msg::kKernelInfoReply, std::move(content), engine_md(engine_.uuid)));
    publish_status("idle");
    return;
  } else {
    // ipykernel logs "Unknown message type" and answers nothing, which leaves the sender of a
    // request waiting for good: a request gets an error reply instead (other kinds, such as
    // comm messages, expect none).
    if (unknown_limit_.allow()) {
      spdlog::warn("Unknown message type: '{}' ({} more since the last report)",
                   log::printable(type), unknown_limit_.suppressed());
    }
    if (!is_request(type)) {
      publish_status("idle");
      return;
    }
    content = unknown_type_error(engine_, "shell", type);
  }

  publisher_.flush_streams_and_wait();
  finish_metadata(md, content, engine_);
  wire::Message r = make_reply(request, reply_type(type), std::move(content), std::move(md));
  r.buffers = std::move(buffers);
  reply(std::move(r));
  publish_status("idle");
}

// ------------------------------------------------------------------------- ControlHandler
int parse_signal(const Json& sig, std::string* ename, std::string* evalue) {
  static const std::pair<const char*, int> kNames[] = {
      {"SIGHUP", SIGHUP},    {"SIGINT", SIGINT},   {"SIGQUIT", SIGQUIT}, {"SIGILL", SIGILL},
      {"SIGTRAP", SIGTRAP},  {"SIGABRT", SIGABRT}, {"SIGBUS", SIGBUS},   {"SIGFPE", SIGFPE},
      {"SIGKILL", SIGKILL},  {"SIGUSR1", SIGUSR1}, {"SIGSEGV", SIGSEGV}, {"SIGUSR2", SIGUSR2},
      {"SIGPIPE", SIGPIPE},  {"SIGALRM", SIGALRM}, {"SIGTERM", SIGTERM}, {"SIGCHLD", SIGCHLD},
      {"SIGCONT", SIGCONT},  {"SIGSTOP", SIGSTOP}, {"SIGTSTP", SIGTSTP}, {"SIGTTIN", SIGTTIN},
      {"SIGTTOU", SIGTTOU},  {"SIGURG", SIGURG},   {"SIGXCPU", SIGXCPU}, {"SIGXFSZ", SIGXFSZ},
      {"SIGWINCH", SIGWINCH}};
  if (sig.is_number_integer()) {
    auto n = sig.get<long long>();
    if (n <= 0 || n >= NSIG) {
      *ename = "ValueError";
      *evalue = "signal number out of range";
      return -1;
    }
    return static_cast<int>(n);
  }
  if (sig.is_string()) {
    auto name = sig.get<std::string>();
    for (const auto& [n, v] : kNames) {
      if (name == n) return v;
    }
    *ename = "AttributeError";
    *evalue = "module 'signal' has no attribute '" + name + "'";
    return -1;
  }
  *ename = sig.is_null() ? "KeyError" : "TypeError";
  *evalue = sig.is_null() ? "'sig'" : "signal must be an int or a name";
  return -1;
}

ControlHandler::ControlHandler(EngineIdentity engine, Publisher& publisher, AbortSet& aborts,
                               ControlActions& actions, wire::Session& session, MsgIds& ids)
    : engine_(std::move(engine)),
      publisher_(publisher),
      aborts_(aborts),
      actions_(actions),
      session_(session),
      ids_(ids) {}

wire::Message ControlHandler::make_reply(const wire::Message& request, std::string_view type,
                                         Json content, Json metadata) {
  wire::Message r =
      make_message(session_, ids_, type, std::move(content), request.header, std::move(metadata));
  r.identities = request.identities;
  return r;
}

void ControlHandler::publish_status(const Json& parent, std::string_view state) {
  publisher_.publish(engine_.topic("status"), std::string(msg::kStatus), status_content(state),
                     parent, engine_md(engine_.uuid));
}

void ControlHandler::handle(wire::Message&& request, const Reply& reply) {
  const std::string type = request.msg_type();
  spdlog::debug("Control received: {} {}", log::printable(type), log::printable(request.msg_id()));

  if (type == msg::kSignalRequest) {
    // What the Python nanny does: signal the engine process and answer from its own session
    // with msg_type "_request" (sic) and empty metadata.
    std::string ename, evalue;
    Json sig = request.content.contains("sig") ? request.content["sig"] : Json(nullptr);
    int signo = parse_signal(sig, &ename, &evalue);
    Json content;
    if (signo > 0) {
      spdlog::info("Sending signal {} to pid {}", signo, ::getpid());
      actions_.send_signal(signo);
      content = Json{{"status", "ok"}};
    } else {
      spdlog::error("Error handling request: '{}': {}: {}", log::printable(type), ename,
                    log::printable(evalue));
      content = Json{{"status", "error"},
                     {"traceback", Json::array({ename + ": " + evalue})},
                     {"ename", ename},
                     {"evalue", evalue},
                     {"engine_info", Json::object()}};
    }
    reply(make_reply(request, msg::kSignalReplyQuirk, std::move(content), Json::object()));
    return;
  }

  publish_status(request.header, "busy");
  if (type == msg::kAbortRequest) {
    const Json& ids = request.content.contains("msg_ids") ? request.content["msg_ids"] : Json();
    std::vector<std::string> list;
    if (ids.is_string()) {
      list.push_back(ids.get<std::string>());
    } else if (ids.is_array()) {
      for (const auto& id : ids) {
        list.push_back(id.is_string() ? id.get<std::string>() : id.dump());
      }
    }
    if (list.empty()) {
      aborts_.abort_queued();
    } else {
      aborts_.add(list);
    }
    spdlog::info("Aborting {} request(s)",
                 list.empty() ? std::string("queued") : std::to_string(list.size()));
    reply(make_reply(request, msg::kAbortReply, Json{{"status", "ok"}}, engine_md(engine_.uuid)));
  } else if (type == msg::kClearRequest) {
    auto req = std::make_shared<wire::Message>(std::move(request));
    actions_.clear_namespace([this, req, reply] {
      reply(make_reply(*req, msg::kClearReply, Json{{"status", "ok"}}, engine_md(engine_.uuid)));
      publish_status(req->header, "idle");
    });
    return;
  } else if (type == msg::kShutdownRequest) {
    bool restart = request.content.value("restart", false);
    Json content = Json{{"status", "ok"}, {"restart", restart}};
    reply(make_reply(request, msg::kShutdownReply, content, engine_md(engine_.uuid)));
    // ipykernel also publishes the reply on IOPub; the hub unregisters the engine on it
    publisher_.publish(engine_.topic("shutdown"), std::string(msg::kShutdownReply), content,
                       request.header, Json::object());
    publish_status(request.header, "idle");
    actions_.shutdown();
    return;
  } else if (type == msg::kKernelInfoRequest) {
    reply(make_reply(request, msg::kKernelInfoReply, actions_.kernel_info(),
                     engine_md(engine_.uuid)));
  } else {
    if (unknown_limit_.allow()) {
      spdlog::error("UNKNOWN CONTROL MESSAGE TYPE: '{}' ({} more since the last report)",
                    log::printable(type), unknown_limit_.suppressed());
    }
    if (is_request(type)) {
      Json content = unknown_type_error(engine_, "control", type);
      reply(make_reply(request, reply_type(type), std::move(content), engine_md(engine_.uuid)));
    }
  }
  publish_status(request.header, "idle");
}

}  // namespace ipp::engine
