#pragma once
// The engine's kernel logic, without sockets: what to publish and reply for each shell and
// control request, mirroring ipykernel's dispatch_shell/process_control and ipyparallel's
// IPythonParallelKernel (init_metadata, finish_metadata, abort handling) and its nanny
// (signal_request).
//
// ShellHandler runs on the main thread (it calls the Interpreter); ControlHandler runs on the
// control thread and never touches the interpreter directly: clearing the namespace is delegated
// to ControlActions, which runs it on the main thread and calls back. Both are created once the
// engine is registered and live until it stops.
#include <ipp/engine/interpreter.hpp>
#include <ipp/util/log.hpp>
#include <ipp/wire/message.hpp>
#include <ipp/wire/session.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace ipp::engine {

struct EngineIdentity {
  std::string uuid;  // Session id and zmq identity of every engine socket
  int id = -1;       // assigned by the hub
  std::string topic(std::string_view kind) const {
    return "engine." + std::to_string(id) + "." + std::string(kind);
  }
};

// Unique msg_ids across the engine's threads. Each thread has its own Session (a Session and its
// Signer belong to one thread), all with the engine uuid as session id, so jupyter_client's
// "<session>_<pid>_<n>" with a per-Session counter would repeat; one shared atomic counter does
// not. Thread-safe; owned by the Engine.
class MsgIds {
 public:
  explicit MsgIds(const std::string& session_id);
  std::string next();

 private:
  std::string prefix_;
  std::atomic<std::uint64_t> counter_{0};
};

// A message with a fresh header from `session` and a msg_id from `ids`.
wire::Message make_message(wire::Session& session, MsgIds& ids, std::string_view msg_type,
                           wire::Json content, wire::Json parent,
                           wire::Json metadata = wire::Json::object());

// Where IOPub messages go. Implemented by IopubPublisher (a thread) and by test fakes.
// Thread-safe in production: called from the main and control threads.
class Publisher {
 public:
  virtual ~Publisher() = default;
  // A null `parent` means the request set by set_parent (output of running code).
  virtual void publish(std::string topic, std::string msg_type, wire::Json content,
                       wire::Json parent, wire::Json metadata, wire::Frames buffers = {}) = 0;
  // The request whose side effects (streams, displays) are being produced now.
  virtual void set_parent(const wire::Json& parent) = 0;
  // Hands buffered stream text over and waits (bounded) until it is on the wire, so output
  // precedes the reply, as ipykernel's sys.stdout.flush() before send does.
  virtual void flush_streams_and_wait() = 0;
};

// Requests to abort, shared by the control thread (abort_request) and the main thread (which
// checks before handling each shell request). Thread-safe.
class AbortSet {
 public:
  void add(const std::vector<std::string>& msg_ids);
  // True (once) when `msg_id` was listed in an abort_request.
  bool take(const std::string& msg_id);
  // abort_request with no ids: every execute_request already waiting is aborted
  // (ipykernel _abort_queues with stop_on_error_timeout 0).
  void abort_queued();
  bool take_abort_queued();
  std::size_t size() const;

 private:
  mutable std::mutex mutex_;
  std::unordered_set<std::string> ids_;
  bool abort_queued_ = false;
};

// Reply metadata (IPythonParallelKernel.init_metadata): started, dependencies_met, engine,
// is_broadcast, is_coalescing, original_msg_id copied from the request, and 9.1's label.
wire::Json init_metadata(const wire::Json& request_metadata, const std::string& engine_uuid,
                         const std::string& started);
// finish_metadata: status from the reply content; on error engine_info and, for
// UnmetDependency, dependencies_met = false.
void finish_metadata(wire::Json& metadata, const wire::Json& reply_content,
                     const EngineIdentity& engine);
// "apply_request" -> "apply_reply" (ipykernel's rsplit("_", 1)[0] + "_reply").
std::string reply_type(std::string_view request_type);

class ShellHandler {
 public:
  using Reply = std::function<void(wire::Message&&)>;

  ShellHandler(EngineIdentity engine, Interpreter& interpreter, Publisher& publisher,
               AbortSet& aborts, wire::Session& session, MsgIds& ids);

  // Handles one shell request: busy, run, flush output, reply (with the request's identities),
  // idle. `queued_abort` answers an execute_request caught by abort_queued (aborted reply + idle).
  void handle(wire::Message&& request, const Reply& reply, bool queued_abort = false);

  // Answers a signed request whose parent header, metadata or content did not decode (`why`)
  // with an error reply, when it is a request; `request` has its identities and header only.
  void refuse(wire::Message&& request, std::string_view why, const Reply& reply);

  // True (once) after a non-silent execute_request failed with stop_on_error (the default): the
  // caller then aborts the execute_requests already queued, as ipykernel does.
  bool take_stop_on_error();

 private:
  wire::Message make_reply(const wire::Message& request, std::string_view type, wire::Json content,
                           wire::Json metadata);
  // status of the request being handled (the publisher's current parent)
  void publish_status(std::string_view state);

  EngineIdentity engine_;
  Interpreter& interpreter_;
  Publisher& publisher_;
  AbortSet& aborts_;
  wire::Session& session_;
  MsgIds& ids_;
  bool stop_on_error_ = false;
  log::RateLimit unknown_limit_;  // "Unknown message type" warnings
};

// What control requests need from the rest of the engine.
class ControlActions {
 public:
  virtual ~ControlActions() = default;
  // Resets the user namespace on the main thread; `done` must then run on the control thread.
  virtual void clear_namespace(std::function<void()> done) = 0;
  virtual wire::Json kernel_info() = 0;
  // Delivers a signal as the nanny does (SIGINT interrupts the running task).
  virtual void send_signal(int signo) = 0;
  // The shutdown replies are out; stop the engine.
  virtual void shutdown() = 0;
};

// Signal number from signal_request content ("sig": 2 or "SIGINT"); -1 and `error` set when
// unknown (the nanny's getattr(signal, name) raising AttributeError).
int parse_signal(const wire::Json& sig, std::string* ename, std::string* evalue);

class ControlHandler {
 public:
  using Reply = std::function<void(wire::Message&&)>;

  ControlHandler(EngineIdentity engine, Publisher& publisher, AbortSet& aborts,
                 ControlActions& actions, wire::Session& session, MsgIds& ids);

  void handle(wire::Message&& request, const Reply& reply);

 private:
  wire::Message make_reply(const wire::Message& request, std::string_view type, wire::Json content,
                           wire::Json metadata);
  void publish_status(const wire::Json& parent, std::string_view state);

  EngineIdentity engine_;
  Publisher& publisher_;
  AbortSet& aborts_;
  ControlActions& actions_;
  wire::Session& session_;
  MsgIds& ids_;
  log::RateLimit unknown_limit_;  // unknown control message types
};

}  // namespace ipp::engine
