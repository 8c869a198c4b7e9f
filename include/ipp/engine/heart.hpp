#pragma once
// Heart: the engine's heartbeat, on its own thread, never touching Python.
//
// A SUB on hb_ping receives the controller's pings and a DEALER (identity = engine uuid) on
// hb_pong echoes each one unchanged, immediately, as the Python engine's C-level relay device
// does, so a task that runs for minutes never looks like a dead engine. The same thread counts
// pings for the engine-side watchdog (IPEngine._hb_monitor): every hb_period + 500 ms a check;
// max_misses checks in a row without a ping and `on_lost` is called once.
//
// Created by the Engine after registration; start() spawns the thread, stop() joins it.
#include <ipp/engine/stream_buffer.hpp>
#include <ipp/net/curve.hpp>
#include <ipp/net/reactor.hpp>

#include <zmq.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

namespace ipp::engine {

class Heart {
 public:
  struct Settings {
    std::string ping_url;
    std::string pong_url;
    std::string identity;
    std::chrono::milliseconds check_period{3500};
    int max_misses = 50;                        // 0 disables the watchdog
    std::optional<net::CurveClientKeys> curve;  // CurveZMQ client keys for both sockets
  };

  Heart(zmq::context_t& context, Settings settings, std::function<void()> on_lost);
  ~Heart();
  Heart(const Heart&) = delete;
  Heart& operator=(const Heart&) = delete;

  void start();
  void stop();
  std::uint64_t pings() const { return pings_.load(); }

 private:
  void on_ping();
  void check();

  zmq::context_t& context_;
  Settings settings_;
  std::function<void()> on_lost_;
  net::Reactor reactor_{"heart"};
  std::thread thread_;
  std::atomic<std::uint64_t> pings_{0};
  // heart thread only
  std::unique_ptr<zmq::socket_t> ping_;
  std::unique_ptr<zmq::socket_t> pong_;
  HeartbeatWatchdog watchdog_;
  bool pinged_ = false;
  bool lost_ = false;
};

}  // namespace ipp::engine
