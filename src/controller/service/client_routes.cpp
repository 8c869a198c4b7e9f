#include "client_routes.hpp"

#include <ipp/config/connection_info.hpp>
#include <ipp/wire/message.hpp>

#include <fstream>
#include <optional>
#include <sstream>

namespace ipp::controller::service {

namespace {

constexpr std::size_t kMaxRoutes = 1000;

std::string to_hex(std::string_view bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

std::optional<std::string> from_hex(std::string_view text) {
  if (text.size() % 2 != 0) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (std::size_t i = 0; i < text.size(); i += 2) {
    const int hi = nibble(text[i]), lo = nibble(text[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}

}  // namespace

ClientRoutes::ClientRoutes(std::filesystem::path file, std::shared_ptr<spdlog::logger> log)
    : file_(std::move(file)), log_(std::move(log)), problems_(log_) {}

void ClientRoutes::load() {
  std::ifstream in(file_);
  if (!in) return;
  std::stringstream text;
  text << in.rdbuf();
  wire::Json j = wire::Json::parse(text.str(), nullptr, false);
  const wire::Json clients = j.is_object() ? j.value("clients", wire::Json::object()) : wire::Json();
  if (!clients.is_object()) {
    log_->warn("{} is not a client route file; replies to restored tasks may not reach their "
               "clients", file_.string());
    return;
  }
  for (const auto& [session, hex] : clients.items()) {
    auto route = hex.is_string() ? from_hex(hex.get<std::string>()) : std::nullopt;
    if (!route || route->empty() || routes_.count(session) != 0) continue;
    routes_.emplace(session, *route);
    order_.push_back(session);
  }
}

void ClientRoutes::note(std::string_view session, std::string_view route) {
  if (session.empty()) return;
  auto it = routes_.find(session);
  if (it != routes_.end()) {
    if (it->second == route) return;  // the usual case: nothing new
    it->second = std::string(route);
  } else {
    routes_.emplace(std::string(session), std::string(route));
    order_.emplace_back(session);
    while (order_.size() > kMaxRoutes) {
      routes_.erase(order_.front());
      order_.pop_front();
    }
  }
  save();
}

const std::string* ClientRoutes::find(std::string_view session) const {
  auto it = routes_.find(session);
  return it != routes_.end() ? &it->second : nullptr;
}

void ClientRoutes::save() {
  wire::Json clients = wire::Json::object();
  for (const auto& session : order_) {
    auto it = routes_.find(session);
    if (it != routes_.end()) clients[session] = to_hex(it->second);
  }
  try {
    using std::filesystem::perms;
    config::write_file_atomic(file_, wire::Json{{"clients", clients}}.dump(),
                              perms::owner_read | perms::owner_write);
  } catch (const std::exception& e) {
    problems_.report(spdlog::level::warn, "client routes not saved", [&] {
      return fmt::format("cannot save the client routes to {}: {}", file_.string(), e.what());
    });
  }
}

}  // namespace ipp::controller::service
