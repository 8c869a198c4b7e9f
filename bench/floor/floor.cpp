// floor: the least a controller can do for bench/loadgen's capacity run, as a yardstick.
//
// It binds the ports the load generator (and a Python client) uses and writes
// ipcontroller-client.json and ipcontroller-engine.json into <dir>/security. It answers registration_request and
// connection_request, and routes tasks: a request from a client goes to the next engine in turn,
// [engine, client, <IDS|MSG>, ...], and a reply goes back to its client. Nothing else happens: no
// scheduler policy or queue bound, no task records, no heartbeats, no IOPub. With --verify it
// also checks every task message's signature, as any controller must.
//
// What it reaches with the same generator on the same machine bounds what a real controller
// could reach there, since libzmq and the kernel carry the same messages. It is a measuring tool,
// not a controller: nothing here is meant to be correct beyond that.

#include <ipp/util/ids.hpp>
#include <ipp/wire/signer.hpp>

#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

using nlohmann::json;
using Frames = std::vector<zmq::message_t>;
constexpr std::string_view kDelim = "<IDS|MSG>";

std::atomic<bool> g_stop{false};

std::string_view sv(const zmq::message_t& m) {
  return {static_cast<const char*>(m.data()), m.size()};
}

bool recv_all(zmq::socket_t& s, Frames& out) {
  out.clear();
  while (true) {
    zmq::message_t m;
    if (!s.recv(m, zmq::recv_flags::dontwait)) return !out.empty();
    bool more = m.more();
    out.push_back(std::move(m));
    if (!more) return true;
  }
}

// False when the first frame cannot be routed (ROUTER_MANDATORY: the peer is not connected).
bool send_all(zmq::socket_t& s, Frames& frames) {
  for (std::size_t i = 0; i < frames.size(); ++i) {
    auto flags = i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none;
    try {
      if (!s.send(frames[i], flags | zmq::send_flags::dontwait)) return false;
    } catch (const zmq::error_t&) {
      if (i == 0) return false;
      throw;
    }
  }
  return true;
}

std::size_t delim_at(const Frames& f) {
  std::size_t d = 0;
  while (d < f.size() && sv(f[d]) != kDelim) ++d;
  return d;
}

bool signature_ok(const ipp::wire::Signer& signer, const Frames& f) {
  std::size_t d = delim_at(f);
  if (d + 5 >= f.size()) return false;
  return signer.verify(sv(f[d + 1]), {sv(f[d + 2]), sv(f[d + 3]), sv(f[d + 4]), sv(f[d + 5])});
}

class Floor {
 public:
  Floor(const std::string& ip, bool verify)
      : ip_(ip), verify_(verify), key_(ipp::new_id()), signer_(key_), session_(ipp::new_id()) {
    ctx_.set(zmq::ctxopt::max_sockets, 100000);
    reg_ = bind(zmq::socket_type::router, reg_port_);
    notify_ = bind(zmq::socket_type::pub, notify_port_);
    client_ = bind(zmq::socket_type::router, client_port_);
    engine_ = bind(zmq::socket_type::router, engine_port_);
    mux_ = bind(zmq::socket_type::router, mux_port_);
    ping_ = bind(zmq::socket_type::pub, ping_port_);
    pong_ = bind(zmq::socket_type::router, pong_port_);
    // Bound so that a Python client can connect; nothing is ever sent through them.
    client_mux_ = bind(zmq::socket_type::router, client_mux_port_);
    control_ = bind(zmq::socket_type::router, control_port_);
    iopub_ = bind(zmq::socket_type::pub, iopub_port_);
    broadcast_ = bind(zmq::socket_type::router, broadcast_port_);
    engine_.set(zmq::sockopt::router_mandatory, 1);
  }

  void write_files(const std::filesystem::path& dir) const {
    std::filesystem::create_directories(dir);
    json common{{"interface", "tcp://" + ip_}, {"key", key_},
                {"signature_scheme", "hmac-sha256"}, {"location", ip_}, {"ssh", ""}};
    json client = common;
    client.update({{"registration", reg_port_}, {"notification", notify_port_},
                   {"task", client_port_}, {"task_scheme", "leastload"},
                   {"mux", client_mux_port_}, {"control", control_port_},
                   {"iopub", iopub_port_}, {"broadcast", broadcast_port_},
                   {"pack", "json"}, {"unpack", "json"}});
    json engine = common;
    engine.update({{"registration", reg_port_}, {"task", engine_port_}, {"mux", mux_port_},
                   {"hb_ping", ping_port_}, {"hb_pong", pong_port_}});
    for (auto& [name, j] : {std::pair{"ipcontroller-client.json", &client},
                            std::pair{"ipcontroller-engine.json", &engine}}) {
      auto tmp = dir / (std::string(name) + ".tmp");
      std::ofstream(tmp) << j->dump(1) << "\n";
      std::filesystem::rename(tmp, dir / name);  // readers see whole files only
    }
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
        while (recv_all(reg_, f)) on_registration(f);
      }
      if (items[1].revents & ZMQ_POLLIN) {
        for (int i = 0; i < 1000 && recv_all(client_, f); ++i) on_request(std::move(f));
      }
      if (items[2].revents & ZMQ_POLLIN) {
        for (int i = 0; i < 1000 && recv_all(engine_, f); ++i) on_reply(f);
      }
      if (items[3].revents & ZMQ_POLLIN) {
        while (recv_all(pong_, f)) {
        }
      }
      retry_backlog();
    }
    std::printf("FLOOR {\"requests\":%ld,\"replies\":%ld,\"bad_signatures\":%ld}\n", requests_,
                replies_, bad_);
  }

 private:
  zmq::socket_t bind(zmq::socket_type type, int& port) {
    zmq::socket_t s(ctx_, type);
    s.set(zmq::sockopt::linger, 0);
    s.set(zmq::sockopt::sndhwm, 0);
    s.set(zmq::sockopt::rcvhwm, 0);
    s.bind("tcp://" + ip_ + ":0");
    std::string ep = s.get(zmq::sockopt::last_endpoint);
    port = std::stoi(ep.substr(ep.rfind(':') + 1));
    return s;
  }

  void on_registration(Frames& f) {
    std::size_t d = delim_at(f);
    if (d + 5 >= f.size() || !signature_ok(signer_, f)) return;
    json header = json::parse(sv(f[d + 2]), nullptr, false);
    std::string type = header.is_object() ? header.value("msg_type", "") : "";
    json content;
    std::string reply_type;
    if (type == "registration_request") {
      json c = json::parse(sv(f[d + 5]), nullptr, false);
      std::string uuid = c.is_object() ? c.value("uuid", std::string(sv(f[0]))) : "";
      const int id = static_cast<int>(engines_.size());
      content = {{"status", "ok"}, {"id", id}};
      engines_.push_back(uuid);
      reply_type = "registration_reply";
      notify("registration_notification", json{{"id", id}, {"uuid", uuid}});
    } else if (type == "connection_request") {
      json list = json::object();
      for (std::size_t i = 0; i < engines_.size(); ++i) list[std::to_string(i)] = engines_[i];
      content = {{"status", "ok"}, {"engines", list}};
      reply_type = "connection_reply";
    } else {
      return;
    }
    Frames out;
    for (std::size_t i = 0; i < d; ++i) out.push_back(std::move(f[i]));
    append_signed(out, reply_type, sv(f[d + 2]), content);
    send_all(reg_, out);
  }

  // [<IDS|MSG>, signature, header, parent, metadata {}, content] after what `out` holds.
  void append_signed(Frames& out, const std::string& type, std::string_view parent,
                     const json& content) {
    json h{{"msg_id", ipp::new_id()}, {"msg_type", type}, {"username", "floor"},
           {"session", session_}, {"date", ipp::iso8601_now()}, {"version", "5.3"}};
    std::string hs = h.dump(), ps(parent), ms = "{}", cs = content.dump();
    out.emplace_back(kDelim.data(), kDelim.size());
    std::string sig = signer_.sign({hs, ps, ms, cs});
    for (const std::string* s : {&sig, &hs, &ps, &ms, &cs}) out.emplace_back(s->data(), s->size());
  }

  // What clients hear on the notification port (a Python client counts engines from it).
  void notify(const std::string& type, const json& content) {
    Frames out;
    append_signed(out, type, "{}", content);
    send_all(notify_, out);
  }

  void on_request(Frames&& f) {
    if (verify_ && !signature_ok(signer_, f)) {
      ++bad_;
      return;
    }
    ++requests_;
    if (!dispatch(f)) backlog_.push_back(std::move(f));
  }

  // [client, ...] -> [engine, client, ...] to the next engine that is connected.
  bool dispatch(Frames& f) {
    for (std::size_t tries = 0; tries < engines_.size(); ++tries) {
      const std::string& e = engines_[next_++ % engines_.size()];
      Frames out;
      out.reserve(f.size() + 1);
      out.emplace_back(e.data(), e.size());
      for (auto& m : f) {
        out.emplace_back();
        out.back().copy(m);  // shares the data, as a controller forwarding a frame would
      }
      if (send_all(engine_, out)) return true;
    }
    return false;
  }

  void retry_backlog() {
    while (!backlog_.empty() && dispatch(backlog_.front())) backlog_.pop_front();
  }

  // [engine, client, ...] -> [client, engine, ...]
  void on_reply(Frames& f) {
    if (f.size() < 2 || (verify_ && !signature_ok(signer_, f))) {
      ++bad_;
      return;
    }
    ++replies_;
    std::swap(f[0], f[1]);
    send_all(client_, f);
  }

  std::string ip_;
  bool verify_;
  std::string key_;
  ipp::wire::Signer signer_;
  std::string session_;
  zmq::context_t ctx_{1};
  int reg_port_ = 0, notify_port_ = 0, client_port_ = 0, engine_port_ = 0, mux_port_ = 0,
      ping_port_ = 0, pong_port_ = 0, client_mux_port_ = 0, control_port_ = 0, iopub_port_ = 0,
      broadcast_port_ = 0;
  zmq::socket_t reg_, notify_, client_, engine_, mux_, ping_, pong_, client_mux_, control_,
      iopub_, broadcast_;
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
      std::fprintf(stderr, "usage: floor --dir DIR [--ip 127.0.0.1] [--verify]\n");
      return 2;
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
  std::fflush(stdout);
  floor.run();
  return 0;
}
