#include "status_server.hpp"

#include "dashboard.hpp"

#include <ipp/config/error.hpp>
#include <ipp/util/log.hpp>

#include <httplib.h>
#include <openssl/crypto.h>

#include <arpa/inet.h>
#include <pthread.h>

#include <chrono>
#include <future>

namespace ipp::controller::status {

namespace {

constexpr auto kGatherTimeout = std::chrono::seconds(5);

bool token_matches(const std::string& given, const std::string& expected) {
  return given.size() == expected.size() &&
         CRYPTO_memcmp(given.data(), expected.data(), expected.size()) == 0;
}

std::string presented_token(const httplib::Request& req) {
  const std::string auth = req.get_header_value("Authorization");
  for (const char* scheme : {"token ", "Token ", "Bearer "}) {
    if (auth.rfind(scheme, 0) == 0) return auth.substr(std::string(scheme).size());
  }
  return req.has_param("token") ? req.get_param_value("token") : std::string();
}

}  // namespace

bool is_loopback(const std::string& ip) {
  if (ip == "localhost" || ip == "::1") return true;
  in_addr a{};
  return inet_pton(AF_INET, ip.c_str(), &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

StatusServer::StatusServer(StatusServerOptions options, Gather gather)
    : options_(std::move(options)), gather_(std::move(gather)),
      server_(std::make_unique<httplib::Server>()) {
  if (options_.token.empty() && !is_loopback(options_.ip)) {
    throw config::ConfigError("IPController.status_ip: the status endpoint binds beyond loopback (" +
                              options_.ip + ") and needs a token (IPController.status_token)");
  }
  auto& srv = *server_;
  srv.new_task_queue = [] { return new httplib::ThreadPool(2); };
  srv.set_keep_alive_max_count(100);
  srv.set_read_timeout(std::chrono::seconds(5));
  srv.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (options_.token.empty() || token_matches(presented_token(req), options_.token)) {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    res.status = 401;
    res.set_header("WWW-Authenticate", "token");
    res.set_content("401: a token is required (Authorization: token <token>, or ?token=)\n",
                    "text/plain; charset=utf-8");
    return httplib::Server::HandlerResponse::Handled;
  });
  auto snapshot = [this]() -> std::optional<StatusSnapshot> {
    auto promise = std::make_shared<std::promise<StatusSnapshot>>();
    auto future = promise->get_future();
    gather_([promise](StatusSnapshot s) { promise->set_value(std::move(s)); });
    if (future.wait_for(kGatherTimeout) != std::future_status::ready) return std::nullopt;
    return future.get();
  };
  auto busy = [](httplib::Response& res) {
    res.status = 503;
    res.set_content("503: the controller did not answer in time\n", "text/plain; charset=utf-8");
  };
  srv.Get("/metrics", [snapshot, busy](const httplib::Request&, httplib::Response& res) {
    auto s = snapshot();
    if (!s) return busy(res);
    res.set_content(to_prometheus(*s), "text/plain; version=0.0.4; charset=utf-8");
  });
  srv.Get("/api/status", [snapshot, busy](const httplib::Request&, httplib::Response& res) {
    auto s = snapshot();
    if (!s) return busy(res);
    res.set_header("Cache-Control", "no-store");
    res.set_content(to_json(*s).dump(), "application/json");
  });
  srv.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(dashboard_html()), "text/html; charset=utf-8");
  });

  if (options_.port == 0) {
    port_ = srv.bind_to_any_port(options_.ip);
    if (port_ < 0) port_ = 0;
  } else if (srv.bind_to_port(options_.ip, options_.port)) {
    port_ = options_.port;
  }
  if (port_ <= 0) {
    throw config::ConfigError("IPController.status_port: cannot listen on " + options_.ip + ":" +
                              std::to_string(options_.port) + " (in use, or not an address here)");
  }
}

StatusServer::~StatusServer() { stop(); }

void StatusServer::start() {
  thread_ = std::thread([this] {
    ::pthread_setname_np(::pthread_self(), "status");
    server_->listen_after_bind();
  });
}

void StatusServer::stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

std::string StatusServer::url() const {
  std::string host = options_.ip == "0.0.0.0" || options_.ip == "*" ? "127.0.0.1" : options_.ip;
  std::string u = "http://" + host + ":" + std::to_string(port_) + "/";
  if (!options_.token.empty()) u += "?token=" + options_.token;
  return u;
}

}  // namespace ipp::controller::status
