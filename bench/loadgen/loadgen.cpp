// loadgen: drives an ipyparallel controller (ours or Python's) with many simulated peers.
//
//   * N simulated engines: each registers (registration_request from a DEALER whose identity is
//     its uuid), answers heartbeats (SUB hb_ping -> DEALER hb_pong, echoing the ping), and
//     connects a ROUTER with identity = uuid to the engine-side task and mux ports, where it
//     answers every apply_request at once with a no-op apply_reply (parent_header = the request
//     header, metadata {"status":"ok","engine":uuid,"started":...,"dependencies_met":true}, one
//     result buffer = pickle of None, so real Python clients accept it too).
//   * C simulated clients: DEALERs on the client-side task port, each keeping a window of W
//     signed apply_requests in flight, until T tasks are done; per-task latency is measured from
//     send to reply.
//   * A control loop on the main thread: counts registered engines with connection_request on
//     the registration port and unregistration_notifications on the notification port.
//   * For many engines (10,000) within a per-process open-file limit: --shared-ping gives each
//     shard one SUB for the heartbeat pings (each engine still answers from its own DEALER, so
//     the controller tracks and hears every heart; it only sends each ping once per shard
//     instead of once per engine), and --processes P spreads the engines over P processes.
//
// Output: "PROGRESS {json}" lines while running and one "RESULT {json}" line at the end, on
// stdout. Nothing is asserted.
//
// Messages are built from preformatted JSON templates (no JSON library on the hot path) and
// HMAC-signed once per message with ipp::wire::Signer, as the peers they stand for would.

#include <ipp/util/ids.hpp>
#include <ipp/wire/signer.hpp>

#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <csignal>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <poll.h>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;
constexpr std::string_view kDelim = "<IDS|MSG>";
// pickle.dumps(None, protocol=4)
constexpr char kPickledNone[] = "\x80\x04N.";

std::atomic<bool> g_stop{false};

double now_s() {
  static const auto t0 = Clock::now();
  return std::chrono::duration<double>(Clock::now() - t0).count();
}
std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
          .count());
}

struct Options {
  std::string client_file, engine_file;
  int engines = 0;
  int engine_threads = 1;
  int reg_window = 200;
  bool shell = true;  // connect task/mux ROUTERs
  long tasks = 0;
  int clients = 1;
  int window = 64;
  int buffer_bytes = 360;
  double duration = 0;      // with tasks == 0: how long to keep the engines up (0 = until stdin closes)
  double report_every = 1.0;
  long progress_every = 0;  // tasks between PROGRESS lines (0 = off)
  double register_timeout = 120;
  int io_threads = 1;
  bool shared_ping = false;
  int processes = 1;
};

struct Conn {
  std::string interface;
  std::string key, scheme;
  int registration = 0, notification = 0, client_task = 0;
  int engine_task = 0, engine_mux = 0, hb_ping = 0, hb_pong = 0;
  std::string url(int port) const { return interface + ":" + std::to_string(port); }
};

Conn load_conn(const Options& o) {
  Conn c;
  std::ifstream cf(o.client_file), ef(o.engine_file);
  if (!cf || !ef) throw std::runtime_error("cannot read connection files");
  json cj = json::parse(cf), ej = json::parse(ef);
  c.interface = cj.at("interface").get<std::string>();
  c.key = cj.value("key", "");
  c.scheme = cj.value("signature_scheme", "hmac-sha256");
  c.registration = cj.at("registration").get<int>();
  c.notification = cj.at("notification").get<int>();
  c.client_task = cj.at("task").get<int>();
  c.engine_task = ej.at("task").get<int>();
  c.engine_mux = ej.at("mux").get<int>();
  c.hb_ping = ej.at("hb_ping").get<int>();
  c.hb_pong = ej.at("hb_pong").get<int>();
  return c;
}

zmq::message_t msg(std::string_view s) { return zmq::message_t(s.data(), s.size()); }
std::string_view sv(const zmq::message_t& m) {
  return {static_cast<const char*>(m.data()), m.size()};
}

// Caches an ISO-8601 date string, refreshed every millisecond at most.
class DateCache {
 public:
  const std::string& get() {
    auto t = now_ns();
    if (t - last_ > 1'000'000) {
      last_ = t;
      s_ = ipp::iso8601_now();
    }
    return s_;
  }

 private:
  std::uint64_t last_ = 0;
  std::string s_;
};

std::string header_json(std::string_view msg_id, std::string_view type, std::string_view session,
                        std::string_view date) {
  std::string h;
  h.reserve(200);
  h += "{\"msg_id\":\"";
  h += msg_id;
  h += "\",\"msg_type\":\"";
  h += type;
  h += "\",\"username\":\"loadgen\",\"session\":\"";
  h += session;
  h += "\",\"date\":\"";
  h += date;
  h += "\",\"version\":\"5.3\"}";
  return h;
}

bool recv_multipart(zmq::socket_t& s, std::vector<zmq::message_t>& out) {
  out.clear();
  while (true) {
    zmq::message_t m;
    auto r = s.recv(m, zmq::recv_flags::dontwait);
    if (!r) return !out.empty();
    bool more = m.more();
    out.push_back(std::move(m));
    if (!more) return true;
  }
}

void send_multipart(zmq::socket_t& s, std::vector<zmq::message_t>& frames) {
  for (std::size_t i = 0; i < frames.size(); ++i) {
    auto flags = i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none;
    (void)s.send(frames[i], flags | zmq::send_flags::dontwait);
  }
}

// The four signed frames plus the delimiter and signature, after `ids`.
void signed_frames(const ipp::wire::Signer& signer, std::vector<zmq::message_t>& out,
                   std::string_view h, std::string_view p, std::string_view md,
                   std::string_view c) {
  out.push_back(msg(kDelim));
  out.push_back(msg(signer.sign({h, p, md, c})));
  out.push_back(msg(h));
  out.push_back(msg(p));
  out.push_back(msg(md));
  out.push_back(msg(c));
}

// ------------------------------------------------------------------------------------------
// Simulated engines

struct SimEngine {
  std::string uuid;
  int id = -1;
  enum State { Idle, Registering, Registered, Failed } state = Idle;
  double reg_sent = 0;
  std::unique_ptr<zmq::socket_t> reg, hb_sub, hb_pong, task, mux;
  std::string reply_md;
  std::uint64_t counter = 0;
};

struct Shared {
  std::atomic<long> registered_local{0};  // registration_reply ok
  std::atomic<long> reg_failed{0};
  std::atomic<long> pongs{0};
  std::atomic<long> replies{0};
  std::atomic<long> requests_bad{0};
};

class EngineShard {
 public:
  EngineShard(zmq::context_t& ctx, const Conn& conn, const Options& o, Shared& sh, int count)
      : ctx_(ctx), conn_(conn), o_(o), sh_(sh), signer_(conn.key, conn.scheme) {
    engines_.resize(static_cast<std::size_t>(count));
    for (auto& e : engines_) e.uuid = ipp::new_id();
    pid_ = std::to_string(getpid());
  }

  void run() {
    if (o_.shared_ping) {
      ping_ = sock(zmq::socket_type::sub, "");
      ping_->set(zmq::sockopt::subscribe, "");
      ping_->connect(conn_.url(conn_.hb_ping));
    }
    std::size_t next = 0;
    int outstanding = 0;
    std::vector<zmq::pollitem_t> items;
    std::vector<std::pair<std::size_t, int>> owners;  // engine index, socket kind
    bool dirty = true;
    std::vector<zmq::message_t> frames;
    while (!g_stop.load(std::memory_order_relaxed)) {
      // Issue registrations within the window.
      while (next < engines_.size() && outstanding < o_.reg_window) {
        auto& e = engines_[next++];
        try {
          start_registration(e);
          ++outstanding;
        } catch (const zmq::error_t& err) {  // e.g. EMFILE: out of file descriptors
          fail(e, err);
        }
        dirty = true;
      }
      if (dirty) {
        items.clear();
        owners.clear();
        if (ping_) {
          items.push_back({ping_->handle(), 0, ZMQ_POLLIN, 0});
          owners.emplace_back(0, 4);
        }
        for (std::size_t i = 0; i < engines_.size(); ++i) {
          auto& e = engines_[i];
          if (e.state == SimEngine::Registering) {
            items.push_back({e.reg->handle(), 0, ZMQ_POLLIN, 0});
            owners.emplace_back(i, 0);
          } else if (e.state == SimEngine::Registered) {
            if (e.hb_sub) {
              items.push_back({e.hb_sub->handle(), 0, ZMQ_POLLIN, 0});
              owners.emplace_back(i, 1);
            }
            if (e.task) {
              items.push_back({e.task->handle(), 0, ZMQ_POLLIN, 0});
              owners.emplace_back(i, 2);
              items.push_back({e.mux->handle(), 0, ZMQ_POLLIN, 0});
              owners.emplace_back(i, 3);
            }
          }
        }
        dirty = false;
      }
      int n = zmq::poll(items.data(), items.size(), std::chrono::milliseconds(10));
      double t = now_s();
      if (n > 0) {
        for (std::size_t k = 0; k < items.size(); ++k) {
          if (!(items[k].revents & ZMQ_POLLIN)) continue;
          auto& e = engines_[owners[k].first];
          switch (owners[k].second) {
            case 0:
              if (recv_multipart(*e.reg, frames)) {
                try {
                  finish_registration(e, frames);
                } catch (const zmq::error_t& err) {
                  fail(e, err);
                }
                --outstanding;
                dirty = true;
              }
              break;
            case 1:
              for (int i = 0; i < 64 && recv_multipart(*e.hb_sub, frames); ++i) {
                for (auto& f : frames) (void)e.hb_pong->send(f, zmq::send_flags::dontwait);
                sh_.pongs.fetch_add(1, std::memory_order_relaxed);
              }
              break;
            case 2:
              for (int i = 0; i < 256 && recv_multipart(*e.task, frames); ++i) reply(e, *e.task, frames);
              break;
            case 3:
              for (int i = 0; i < 256 && recv_multipart(*e.mux, frames); ++i) reply(e, *e.mux, frames);
              break;
            case 4:
              // one ping for the shard: every registered engine echoes it from its own socket
              for (int i = 0; i < 64 && recv_multipart(*ping_, frames); ++i) {
                for (auto& other : engines_) {
                  if (other.state != SimEngine::Registered) continue;
                  for (auto& f : frames) {
                    zmq::message_t copy(f.data(), f.size());
                    (void)other.hb_pong->send(copy, zmq::send_flags::dontwait);
                  }
                  sh_.pongs.fetch_add(1, std::memory_order_relaxed);
                }
              }
              break;
          }
        }
      }
      // Registrations without a reply for too long count as failed.
      for (std::size_t i = 0; i < next; ++i) {
        auto& e = engines_[i];
        if (e.state == SimEngine::Registering && t - e.reg_sent > o_.register_timeout) {
          e.state = SimEngine::Failed;
          e.reg.reset();
          --outstanding;
          sh_.reg_failed.fetch_add(1);
          dirty = true;
        }
      }
    }
    for (auto& e : engines_) {
      for (auto* s : {&e.reg, &e.hb_sub, &e.hb_pong, &e.task, &e.mux})
        if (*s) (*s)->set(zmq::sockopt::linger, 0);
    }
    if (ping_) ping_->set(zmq::sockopt::linger, 0);
  }

  std::vector<SimEngine>& engines() { return engines_; }

  void fail(SimEngine& e, const zmq::error_t& err) {
    if (sh_.reg_failed.fetch_add(1) == 0)
      std::fprintf(stderr, "loadgen: simulated engine failed: %s\n", err.what());
    for (auto* s : {&e.reg, &e.hb_sub, &e.hb_pong, &e.task, &e.mux}) s->reset();
    e.state = SimEngine::Failed;
  }

 private:
  std::unique_ptr<zmq::socket_t> sock(zmq::socket_type type, const std::string& identity) {
    auto s = std::make_unique<zmq::socket_t>(ctx_, type);
    s->set(zmq::sockopt::linger, 0);
    s->set(zmq::sockopt::sndhwm, 0);
    s->set(zmq::sockopt::rcvhwm, 0);
    if (!identity.empty()) s->set(zmq::sockopt::routing_id, identity);
    return s;
  }

  void start_registration(SimEngine& e) {
    e.reg = sock(zmq::socket_type::dealer, e.uuid);
    e.reg->connect(conn_.url(conn_.registration));
    std::string h = header_json(e.uuid + "_" + pid_ + "_0", "registration_request", e.uuid,
                                dates_.get());
    std::string c = "{\"uuid\":\"" + e.uuid + "\"}";
    std::vector<zmq::message_t> f;
    signed_frames(signer_, f, h, "{}", "{}", c);
    send_multipart(*e.reg, f);
    e.state = SimEngine::Registering;
    e.reg_sent = now_s();
  }

  void finish_registration(SimEngine& e, std::vector<zmq::message_t>& frames) {
    std::size_t d = 0;
    while (d < frames.size() && sv(frames[d]) != kDelim) ++d;
    bool ok = false;
    if (d + 5 < frames.size()) {
      auto c = json::parse(sv(frames[d + 5]), nullptr, false);
      if (c.is_object() && c.value("status", "") == "ok") {
        ok = true;
        e.id = c.value("id", -1);
      }
    }
    e.reg.reset();
    if (!ok) {
      e.state = SimEngine::Failed;
      sh_.reg_failed.fetch_add(1);
      return;
    }
    if (!o_.shared_ping) {
      e.hb_sub = sock(zmq::socket_type::sub, "");
      e.hb_sub->set(zmq::sockopt::subscribe, "");
      e.hb_sub->connect(conn_.url(conn_.hb_ping));
    }
    e.hb_pong = sock(zmq::socket_type::dealer, e.uuid);
    e.hb_pong->connect(conn_.url(conn_.hb_pong));
    if (o_.shell) {
      e.task = sock(zmq::socket_type::router, e.uuid);
      e.task->connect(conn_.url(conn_.engine_task));
      e.mux = sock(zmq::socket_type::router, e.uuid);
      e.mux->connect(conn_.url(conn_.engine_mux));
    }
    e.reply_md.clear();
    e.state = SimEngine::Registered;
    sh_.registered_local.fetch_add(1);
  }

  void reply(SimEngine& e, zmq::socket_t& s, std::vector<zmq::message_t>& frames) {
    std::size_t d = 0;
    while (d < frames.size() && sv(frames[d]) != kDelim) ++d;
    if (d + 5 >= frames.size()) {
      sh_.requests_bad.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    const std::string& date = dates_.get();
    std::string h = header_json(e.uuid + "_" + pid_ + "_" + std::to_string(++e.counter),
                                "apply_reply", e.uuid, date);
    std::string md;
    md.reserve(220);
    md += "{\"started\":\"";
    md += date;
    md += "\",\"dependencies_met\":true,\"engine\":\"";
    md += e.uuid;
    md += "\",\"is_broadcast\":false,\"is_coalescing\":false,\"original_msg_id\":\"\",\"status\":\"ok\"}";
    std::string_view parent = sv(frames[d + 2]);
    std::vector<zmq::message_t> out;
    out.reserve(d + 7);
    for (std::size_t i = 0; i < d; ++i) out.push_back(std::move(frames[i]));
    signed_frames(signer_, out, h, parent, md, "{\"status\":\"ok\"}");
    out.push_back(zmq::message_t(kPickledNone, 4));
    send_multipart(s, out);
    sh_.replies.fetch_add(1, std::memory_order_relaxed);
  }

  zmq::context_t& ctx_;
  const Conn& conn_;
  const Options& o_;
  Shared& sh_;
  ipp::wire::Signer signer_;
  DateCache dates_;
  std::string pid_;
  std::vector<SimEngine> engines_;
  std::unique_ptr<zmq::socket_t> ping_;  // --shared-ping
};

// ------------------------------------------------------------------------------------------
// Simulated clients

struct ClientStats {
  std::atomic<long> done{0};
  std::atomic<long> errors{0};
  std::vector<std::uint32_t> latency_us;  // filled by the client thread
  double t_start = 0, t_end = 0;
};

class ClientDriver {
 public:
  ClientDriver(zmq::context_t& ctx, const Conn& conn, const Options& o, ClientStats& st)
      : ctx_(ctx), conn_(conn), o_(o), st_(st), signer_(conn.key, conn.scheme) {}

  void run() {
    struct C {
      std::unique_ptr<zmq::socket_t> s;
      std::string session;
      long sent = 0, target = 0, inflight = 0;
      std::vector<std::uint64_t> t_sent;
    };
    std::vector<C> cs(static_cast<std::size_t>(o_.clients));
    long per = o_.tasks / o_.clients, extra = o_.tasks % o_.clients;
    std::string pid = std::to_string(getpid());
    for (std::size_t i = 0; i < cs.size(); ++i) {
      auto& c = cs[i];
      c.s = std::make_unique<zmq::socket_t>(ctx_, zmq::socket_type::dealer);
      c.s->set(zmq::sockopt::linger, 0);
      c.s->set(zmq::sockopt::sndhwm, 0);
      c.s->set(zmq::sockopt::rcvhwm, 0);
      c.s->connect(conn_.url(conn_.client_task));
      c.session = ipp::new_id();
      c.target = per + (static_cast<long>(i) < extra ? 1 : 0);
      c.t_sent.assign(static_cast<std::size_t>(c.target), 0);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // let the connects complete
    // Request payload: three buffers, roughly what a Python client sends for a no-op.
    std::string b1(static_cast<std::size_t>(o_.buffer_bytes * 5 / 6), 'f');
    std::string b2(static_cast<std::size_t>(o_.buffer_bytes / 6), 'i');
    const std::string md =
        "{\"after\":[],\"follow\":[],\"timeout\":0.0,\"targets\":[],\"retries\":0}";
    st_.latency_us.reserve(static_cast<std::size_t>(o_.tasks));
    auto send_one = [&](C& c) {
      std::string h = header_json(c.session + "_" + pid + "_" + std::to_string(c.sent),
                                  "apply_request", c.session, dates_.get());
      std::vector<zmq::message_t> f;
      f.reserve(9);
      signed_frames(signer_, f, h, "{}", md, "{}");
      f.push_back(msg(b1));
      f.push_back(msg(b2));
      f.push_back(msg("\x80\x04)."));
      c.t_sent[static_cast<std::size_t>(c.sent)] = now_ns();
      send_multipart(*c.s, f);
      ++c.sent;
      ++c.inflight;
    };
    st_.t_start = now_s();
    for (auto& c : cs)
      while (c.inflight < o_.window && c.sent < c.target) send_one(c);
    std::vector<zmq::pollitem_t> items;
    for (auto& c : cs) items.push_back({c.s->handle(), 0, ZMQ_POLLIN, 0});
    long total_done = 0;
    long next_progress = o_.progress_every > 0 ? o_.progress_every : -1;
    std::vector<zmq::message_t> frames;
    while (total_done < o_.tasks && !g_stop.load()) {
      int n = zmq::poll(items.data(), items.size(), std::chrono::milliseconds(100));
      if (n <= 0) continue;
      for (std::size_t k = 0; k < items.size(); ++k) {
        if (!(items[k].revents & ZMQ_POLLIN)) continue;
        auto& c = cs[k];
        for (int i = 0; i < 512 && recv_multipart(*c.s, frames); ++i) {
          std::uint64_t t = now_ns();
          std::size_t d = 0;
          while (d < frames.size() && sv(frames[d]) != kDelim) ++d;
          if (d + 5 >= frames.size()) {
            st_.errors.fetch_add(1);
            continue;
          }
          std::string_view p = sv(frames[d + 3]);
          // parent msg_id "<session>_<pid>_<n>"
          auto a = p.find("\"msg_id\":\"");
          long idx = -1;
          if (a != std::string_view::npos) {
            auto e = p.find('"', a + 10);
            auto u = p.rfind('_', e);
            if (e != std::string_view::npos && u != std::string_view::npos && u > a)
              idx = std::strtol(std::string(p.substr(u + 1, e - u - 1)).c_str(), nullptr, 10);
          }
          if (sv(frames[d + 5]) != "{\"status\":\"ok\"}") st_.errors.fetch_add(1);
          if (idx >= 0 && idx < c.target && c.t_sent[static_cast<std::size_t>(idx)] != 0) {
            st_.latency_us.push_back(
                static_cast<std::uint32_t>((t - c.t_sent[static_cast<std::size_t>(idx)]) / 1000));
            c.t_sent[static_cast<std::size_t>(idx)] = 0;
          }
          --c.inflight;
          ++total_done;
          st_.done.store(total_done, std::memory_order_relaxed);
          if (c.sent < c.target) send_one(c);
          if (next_progress > 0 && total_done >= next_progress) {
            std::printf("PROGRESS {\"tasks\":%ld,\"t\":%.4f}\n", total_done, now_s() - st_.t_start);
            std::fflush(stdout);
            next_progress += o_.progress_every;
          }
        }
      }
    }
    st_.t_end = now_s();
  }

 private:
  zmq::context_t& ctx_;
  const Conn& conn_;
  const Options& o_;
  ClientStats& st_;
  ipp::wire::Signer signer_;
  DateCache dates_;
};

// ------------------------------------------------------------------------------------------
// Control: connection_request counts, notifications

class Control {
 public:
  Control(zmq::context_t& ctx, const Conn& conn)
      : conn_(conn), signer_(conn.key, conn.scheme), query_(ctx, zmq::socket_type::dealer),
        notif_(ctx, zmq::socket_type::sub) {
    session_ = ipp::new_id();
    query_.set(zmq::sockopt::linger, 0);
    query_.connect(conn.url(conn.registration));
    notif_.set(zmq::sockopt::linger, 0);
    notif_.set(zmq::sockopt::subscribe, "");
    notif_.connect(conn.url(conn.notification));
  }

  // Registered engine count from the hub, or -1 on timeout.
  long count_engines(double timeout_s = 10) {
    std::string h = header_json(session_ + "_q_" + std::to_string(++counter_),
                                "connection_request", session_, ipp::iso8601_now());
    std::vector<zmq::message_t> f;
    signed_frames(signer_, f, h, "{}", "{}", "{}");
    send_multipart(query_, f);
    double deadline = now_s() + timeout_s;
    std::vector<zmq::message_t> frames;
    while (now_s() < deadline) {
      drain_notifications();
      zmq::pollitem_t it{query_.handle(), 0, ZMQ_POLLIN, 0};
      if (zmq::poll(&it, 1, std::chrono::milliseconds(50)) <= 0) continue;
      while (recv_multipart(query_, frames)) {
        std::size_t d = 0;
        while (d < frames.size() && sv(frames[d]) != kDelim) ++d;
        if (d + 5 >= frames.size()) continue;
        auto p = json::parse(sv(frames[d + 3]), nullptr, false);
        if (!p.is_object() || p.value("msg_id", "") != json::parse(h)["msg_id"]) continue;
        auto c = json::parse(sv(frames[d + 5]), nullptr, false);
        if (c.is_object() && c.contains("engines")) return static_cast<long>(c["engines"].size());
        return -1;
      }
    }
    return -1;
  }

  void drain_notifications() {
    std::vector<zmq::message_t> frames;
    while (recv_multipart(notif_, frames)) {
      std::size_t d = 0;
      while (d < frames.size() && sv(frames[d]) != kDelim) ++d;
      if (d + 5 >= frames.size()) continue;
      auto h = sv(frames[d + 2]);
      if (h.find("\"unregistration_notification\"") != std::string_view::npos) ++unregistered;
      else if (h.find("\"registration_notification\"") != std::string_view::npos) ++registered;
    }
  }

  long unregistered = 0, registered = 0;

 private:
  const Conn& conn_;
  ipp::wire::Signer signer_;
  zmq::socket_t query_, notif_;
  std::string session_;
  long counter_ = 0;
};

double percentile(std::vector<std::uint32_t>& v, double q) {
  if (v.empty()) return 0;
  std::size_t k = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
  return v[k] / 1000.0;  // ms
}

bool stdin_closed() {
  pollfd p{0, POLLIN, 0};
  if (::poll(&p, 1, 0) > 0) {
    char buf[256];
    return ::read(0, buf, sizeof buf) <= 0;
  }
  return false;
}

void usage() {
  std::fprintf(stderr,
               "usage: loadgen --client-file F --engine-file F [--engines N] [--engine-threads K]\n"
               "       [--reg-window W] [--no-shell] [--tasks T --clients C --window W]\n"
               "       [--buffer-bytes B] [--duration S] [--report-every S] [--progress-every N]\n"
               "       [--register-timeout S] [--io-threads N] [--shared-ping] [--processes P]\n");
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) {
        usage();
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--client-file") o.client_file = val();
    else if (a == "--engine-file") o.engine_file = val();
    else if (a == "--engines") o.engines = std::stoi(val());
    else if (a == "--engine-threads") o.engine_threads = std::stoi(val());
    else if (a == "--reg-window") o.reg_window = std::stoi(val());
    else if (a == "--no-shell") o.shell = false;
    else if (a == "--tasks") o.tasks = std::stol(val());
    else if (a == "--clients") o.clients = std::stoi(val());
    else if (a == "--window") o.window = std::stoi(val());
    else if (a == "--buffer-bytes") o.buffer_bytes = std::stoi(val());
    else if (a == "--duration") o.duration = std::stod(val());
    else if (a == "--report-every") o.report_every = std::stod(val());
    else if (a == "--progress-every") o.progress_every = std::stol(val());
    else if (a == "--register-timeout") o.register_timeout = std::stod(val());
    else if (a == "--io-threads") o.io_threads = std::stoi(val());
    else if (a == "--shared-ping") o.shared_ping = true;
    else if (a == "--processes") o.processes = std::max(1, std::stoi(val()));
    else {
      usage();
      return 2;
    }
  }
  if (o.client_file.empty() || o.engine_file.empty()) {
    usage();
    return 2;
  }
  Conn conn = load_conn(o);
  // --processes: engines only, spread over forked helpers (before any zmq context exists); this
  // process keeps its share, the clients and the control loop. The hub's count is global.
  const int engines_total = o.engines;
  std::vector<pid_t> helpers;
  if (o.processes > 1 && o.engines > 0 && o.tasks == 0) {
    int share = o.engines / o.processes;
    for (int i = 1; i < o.processes; ++i) {
      pid_t pid = ::fork();
      if (pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGTERM);
        std::signal(SIGTERM, [](int) { g_stop = true; });
        o.engines = share;
        zmq::context_t hctx(o.io_threads);
        hctx.set(zmq::ctxopt::max_sockets, 1'000'000);
        Shared hshared;
        int hk = std::max(1, std::min(o.engine_threads, share));
        std::vector<std::unique_ptr<EngineShard>> hshards;
        for (int j = 0; j < hk; ++j)
          hshards.push_back(std::make_unique<EngineShard>(
              hctx, conn, o, hshared, share / hk + (j < share % hk ? 1 : 0)));
        std::vector<std::thread> ht;
        for (auto& sh : hshards) ht.emplace_back([&sh] { sh->run(); });
        for (auto& t : ht) t.join();
        std::_Exit(0);
      }
      if (pid > 0) helpers.push_back(pid);
    }
    o.engines -= share * static_cast<int>(helpers.size());
  }
  zmq::context_t ctx(o.io_threads);
  ctx.set(zmq::ctxopt::max_sockets, 1'000'000);
  Control control(ctx, conn);
  Shared shared;

  // Engines
  double t0 = now_s();
  std::vector<std::unique_ptr<EngineShard>> shards;
  int k = std::max(1, std::min(o.engine_threads, std::max(1, o.engines)));
  for (int i = 0; i < k; ++i) {
    int n = o.engines / k + (i < o.engines % k ? 1 : 0);
    shards.push_back(std::make_unique<EngineShard>(ctx, conn, o, shared, n));
  }
  std::vector<std::thread> threads;
  if (o.engines > 0)
    for (auto& s : shards) threads.emplace_back([&s] { s->run(); });

  json result;
  result["engines_requested"] = engines_total;
  result["processes"] = static_cast<int>(helpers.size()) + 1;
  result["shared_ping"] = o.shared_ping;
  std::vector<json> timeline;
  // Wait until the hub lists every engine (or the registration timeout).
  double t_all = -1;
  long hub_count = 0;
  double last_report = -1e9;
  while (engines_total > 0 && now_s() - t0 < o.register_timeout) {
    hub_count = control.count_engines();
    double t = now_s() - t0;
    if (t - last_report >= o.report_every || hub_count >= engines_total) {
      json p{{"t", t},
             {"hub_engines", hub_count},
             {"reg_replies", shared.registered_local.load()},
             {"reg_failed", shared.reg_failed.load()},
             {"unregistered", control.unregistered}};
      timeline.push_back(p);
      std::printf("PROGRESS %s\n", p.dump().c_str());
      std::fflush(stdout);
      last_report = t;
    }
    if (hub_count >= engines_total) {
      t_all = t;
      break;
    }
    if (shared.registered_local.load() + shared.reg_failed.load() >= o.engines &&
        shared.reg_failed.load() > 0 && hub_count + shared.reg_failed.load() >= o.engines)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  result["register_all_s"] = t_all;
  result["hub_engines_after_register"] = hub_count;
  result["reg_failed"] = shared.reg_failed.load();

  if (o.tasks > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // schedulers hear of engines
    ClientStats st;
    ClientDriver drv(ctx, conn, o, st);
    std::thread ct([&] { drv.run(); });
    ct.join();
    double wall = st.t_end - st.t_start;
    result["tasks"] = o.tasks;
    result["tasks_done"] = st.done.load();
    result["errors"] = st.errors.load();
    result["clients"] = o.clients;
    result["window"] = o.window;
    result["wall_s"] = wall;
    result["tasks_per_s"] = wall > 0 ? static_cast<double>(st.done.load()) / wall : 0;
    result["latency_ms"] = {{"p50", percentile(st.latency_us, 0.50)},
                            {"p90", percentile(st.latency_us, 0.90)},
                            {"p99", percentile(st.latency_us, 0.99)},
                            {"max", percentile(st.latency_us, 1.0)}};
  } else if (engines_total > 0) {
    // Keep the engines up, checking that none gets unregistered.
    double t_end = o.duration > 0 ? now_s() + o.duration : 1e300;
    long min_count = hub_count;
    while (now_s() < t_end && !stdin_closed()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(
          static_cast<int>(std::max(0.1, std::min(o.report_every, t_end - now_s())) * 1000)));
      long c = control.count_engines();
      if (c >= 0) min_count = std::min(min_count, c);
      hub_count = c;
      json p{{"t", now_s() - t0},
             {"hub_engines", c},
             {"pongs", shared.pongs.load()},
             {"unregistered", control.unregistered}};
      timeline.push_back(p);
      std::printf("PROGRESS %s\n", p.dump().c_str());
      std::fflush(stdout);
    }
    result["hub_engines_end"] = hub_count;
    result["hub_engines_min_after_register"] = min_count;
    result["hold_s"] = o.duration;
  }
  control.drain_notifications();
  result["unregistration_notifications"] = control.unregistered;
  result["registration_notifications"] = control.registered;
  result["pongs"] = shared.pongs.load();
  result["engine_replies"] = shared.replies.load();
  result["timeline"] = timeline;
  g_stop = true;
  for (pid_t pid : helpers) ::kill(pid, SIGTERM);
  for (pid_t pid : helpers) ::waitpid(pid, nullptr, 0);
  for (auto& t : threads) t.join();
  shards.clear();
  std::printf("RESULT %s\n", result.dump().c_str());
  std::fflush(stdout);
  ctx.shutdown();
  std::_Exit(0);  // skip the orderly teardown of tens of thousands of sockets
}
