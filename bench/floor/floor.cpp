// floor: the least a controller can do for bench/loadgen's capacity run, as a yardstick.
//
// It binds the ports the load generator (and a Python client) uses and writes
// ipcontroller-client.json and ipcontroller-engine.json into <dir>/security. It answers
// registration_request and connection_request, and routes tasks: a request from a client goes to
// the next engine in turn, [engine, client, <IDS|MSG>, ...], and a reply goes back to its client.
// Nothing else happens: no scheduler policy or queue bound, no task records, no heartbeats, no
// IOPub. With --verify it also checks every task message's signature, as any controller must.
//
// What it reaches with the same generator on the same machine bounds what a real controller
// could reach there, since libzmq and the kernel carry the same messages. It is a measuring tool,
// not a controller: nothing here is meant to be correct beyond that.

#include <ipp/config/connection_info.hpp>
#include <ipp/net/frames_io.hpp>
#include <ipp/util/ids.hpp>
#include <ipp/wire/session.hpp>

#include <zmq.hpp>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <string>
#include <vector>

namespace {

using ipp::wire::Frames;
using ipp::wire::Json;
using ipp::wire::Session;

std::atomic<bool> g_stop{false};

class Floor {
 public:
  Floor(const std::string& ip, bool verify)
      : ip_(ip), verify_(verify), session_(ipp::wire::SessionConfig{ipp::new_id()}) {
    engine_.set(zmq::sockopt::router_mandatory, 1);  // a send to a gone engine fails at once
  }

  void write_files(const std::filesystem::path& dir) {
    std::filesystem::create_directories(dir);
    ipp::config::ConnectionInfo info;
    info.interface = "tcp://" + ip_;
    info.location = ip_;
    info.key = session_.signer().key();
    info.registration = port(reg_);
    info.control = port(control_);
    info.iopub = port(iopub_);
    info.kind = ipp::config::ConnectionKind::Client;
    info.notification = port(notify_);
    info.task = port(client_);
    info.mux = port(client_mux_);
    info.broadcast = {port(broadcast_)};
    ipp::config::write_connection_file(dir / "ipcontroller-client.json", info);
    info.kind = ipp::config::ConnectionKind::Engine;
    info.task = port(engine_);
    info.mux = port(mux_);
    info.hb_ping = port(ping_);
    info.hb_pong = port(pong_);
    ipp::config::write_connection_file(dir / "ipcontroller-engine.json", info);
  }

  void run() {
    zmq::pollitem_t items[] = {{reg_.handle(), 0, ZMQ_POLLIN, 0},
                               {client_.handle(), 0, ZMQ_POLLIN, 0},
                               {engine_.handle(), 0, ZMQ_POLLIN, 0},
                               {pong_.handle(), 0, ZMQ_POLLIN, 0}};
    Frames f;
    while (!g_stop.load()) {
      int timeout = backlog_.empty() ? 200 : 1;
      try {
        zmq::poll(items, 4, std::chrono::milliseconds(timeout));
      } catch (const zmq::error_t& e) {
        if (e.num() == EINTR) continue;  // a signal: g_stop says whether to end
        throw;
      }
      if (items[0].revents & ZMQ_POLLIN) {
        while (ipp::net::recv_frames(reg_, f)) on_registration(std::move(f));
      }
      if (items[1].revents & ZMQ_POLLIN) {
        for (int i = 0; i < 1000 && ipp::net::recv_frames(client_, f); ++i) on_request(std::move(f));
      }
      if (items[2].revents & ZMQ_POLLIN) {
        for (int i = 0; i < 1000 && ipp::net::recv_frames(engine_, f); ++i) on_reply(std::move(f));
      }
      if (items[3].revents & ZMQ_POLLIN) {
        while (ipp::net::recv_frames(pong_, f)) {
        }
      }
      retry_backlog();
    }
    std::printf("FLOOR {\"requests\":%ld,\"replies\":%ld,\"bad_signatures\":%ld}\n", requests_,
                replies_, bad_);
  }

 private:
  zmq::socket_t bind(zmq::socket_type type) {
    zmq::socket_t s(ctx_, type);
    s.set(zmq::sockopt::linger, 0);
    s.set(zmq::sockopt::sndhwm, 0);
    s.set(zmq::sockopt::rcvhwm, 0);
    s.bind("tcp://" + ip_ + ":0");
    return s;
  }
  static int port(zmq::socket_t& s) { return ipp::net::bound_port(s); }

  void on_registration(Frames&& f) {
    auto raw = session_.authenticate(std::move(f), /*record_digest=*/false);
    if (!raw) return;
    const std::string type = raw->msg_type();
    Json content;
    if (type == "registration_request") {
      auto c = Session::unpack(ipp::wire::view(raw->frames[raw->env.content()]));
      std::string uuid = c ? c->value("uuid", std::string(raw->identity(0)))
                           : std::string(raw->identity(0));
      const int id = static_cast<int>(engines_.size());
      content = {{"status", "ok"}, {"id", id}};
      engines_.push_back(uuid);
      reply(*raw, "registration_reply", content);
      // what clients hear on the notification port (a Python client counts engines from it)
      ipp::net::send_frames(notify_, sign({}, "registration_notification", "{}",
                                          Json{{"id", id}, {"uuid", uuid}}));
    } else if (type == "connection_request") {
      Json list = Json::object();
      for (std::size_t i = 0; i < engines_.size(); ++i) list[std::to_string(i)] = engines_[i];
      reply(*raw, "connection_reply", Json{{"status", "ok"}, {"engines", list}});
    }
  }

  void reply(const ipp::wire::RawMessage& request, std::string_view type, const Json& content) {
    std::vector<std::string> ids;
    for (std::size_t i = 0; i < request.identity_count(); ++i) {
      ids.emplace_back(request.identity(i));
    }
    std::string parent(ipp::wire::view(request.frames[request.env.header()]));
    ipp::net::send_frames(reg_, sign(ids, type, std::move(parent), content));
  }

  Frames sign(const std::vector<std::string>& ids, std::string_view type, std::string parent,
              const Json& content) {
    return session_.serialize_packed(ids, session_.header_text(type), std::move(parent), "{}",
                                     Session::pack(content), {});
  }

  // False (counted) when the signature does not check; the frames come back in `f`.
  bool checked(Frames& f) {
    if (!verify_) return true;
    auto raw = session_.verify(std::move(f), /*record_digest=*/false);
    if (!raw) {
      ++bad_;
      return false;
    }
    f = std::move(raw->frames);
    return true;
  }

  void on_request(Frames&& f) {
    if (!checked(f)) return;
    ++requests_;
    if (!dispatch(f)) backlog_.push_back(std::move(f));
  }

  // [client, ...] -> [engine, client, ...] to the next engine that is connected.
  bool dispatch(const Frames& f) {
    for (std::size_t tries = 0; tries < engines_.size(); ++tries) {
      const std::string& e = engines_[next_++ % engines_.size()];
      Frames out;
      out.reserve(f.size() + 1);
      out.emplace_back(e.data(), e.size());
      for (const auto& m : f) out.push_back(ipp::net::share(m));
      if (ipp::net::send_frames(engine_, std::move(out))) return true;
    }
    return false;
  }

  void retry_backlog() {
    while (!backlog_.empty() && dispatch(backlog_.front())) backlog_.pop_front();
  }

  // [engine, client, ...] -> [client, engine, ...]
  void on_reply(Frames&& f) {
    if (f.size() < 2 || !checked(f)) return;
    ++replies_;
    std::swap(f[0], f[1]);
    ipp::net::send_frames(client_, std::move(f));
  }

  std::string ip_;
  bool verify_;
  Session session_;
  zmq::context_t ctx_{1};
  zmq::socket_t reg_ = bind(zmq::socket_type::router);
  zmq::socket_t notify_ = bind(zmq::socket_type::pub);
  zmq::socket_t client_ = bind(zmq::socket_type::router);
  zmq::socket_t engine_ = bind(zmq::socket_type::router);
  zmq::socket_t mux_ = bind(zmq::socket_type::router);
  zmq::socket_t ping_ = bind(zmq::socket_type::pub);
  zmq::socket_t pong_ = bind(zmq::socket_type::router);
  // Bound so that a Python client can connect; nothing is ever sent through them.
  zmq::socket_t client_mux_ = bind(zmq::socket_type::router);
  zmq::socket_t control_ = bind(zmq::socket_type::router);
  zmq::socket_t iopub_ = bind(zmq::socket_type::pub);
  zmq::socket_t broadcast_ = bind(zmq::socket_type::router);
  std::vector<std::string> engines_;
  std::size_t next_ = 0;
  std::deque<Frames> backlog_;
  long requests_ = 0, replies_ = 0, bad_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  std::string dir, ip = "127.0.0.1";
  bool verify = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--dir" && i + 1 < argc) dir = argv[++i];
    else if (a == "--ip" && i + 1 < argc) ip = argv[++i];
    else if (a == "--verify") verify = true;
    else {
      dir.clear();  // unknown: usage below
      break;
    }
  }
  if (dir.empty()) {
    std::fprintf(stderr, "usage: floor --dir DIR [--ip 127.0.0.1] [--verify]\n");
    return 2;
  }
  std::signal(SIGTERM, [](int) { g_stop = true; });
  std::signal(SIGINT, [](int) { g_stop = true; });
  Floor floor(ip, verify);
  // The files last, so a reader that sees them can connect.
  floor.write_files(std::filesystem::path(dir) / "security");
  floor.run();
  return 0;
}
