#include "relays.hpp"

#include <algorithm>
#include <tuple>

#include <ipp/net/frames_io.hpp>
#include <ipp/wire/msg_types.hpp>

namespace ipp::controller::service {

using wire::Frames;
using wire::Json;

namespace {

void send_monitor(zmq::socket_t& monitor, std::string_view topic, const Frames& frames) {
  Frames copy;
  copy.reserve(frames.size() + 1);
  copy.push_back(wire::frame(topic));
  for (const auto& f : frames) copy.push_back(net::share(f));
  // Blocking: the monitor queue is bounded, so a hub that falls behind slows the relays down
  // instead of letting copies pile up in memory.
  net::send_frames(monitor, std::move(copy), /*block=*/true);
}

// An engine message on its way to a client, if the client can take it in: signed, not seen
// before, and with parts its Session decodes (see QueueRelay).
Result<wire::RawMessage, wire::DecodeError> for_clients(wire::Session& session,
                                                        wire::ForwardCheck& check, Frames&& frames) {
  auto raw = session.verify(std::move(frames));
  if (!raw) return raw;
  if (auto parts = check.run(raw->frames, raw->env); !parts) return parts.error();
  return raw;
}

}  // namespace

QueueRelay::QueueRelay(std::string name, zmq::socket_t client, zmq::socket_t engine,
                       zmq::socket_t& monitor, std::string in_topic, std::string out_topic,
                       wire::SessionConfig session)
    : name_(std::move(name)),
      client_(std::move(client)),
      engine_(std::move(engine)),
      monitor_(monitor),
      in_topic_(std::move(in_topic)),
      out_topic_(std::move(out_topic)),
      session_(std::move(session)),
      log_(log::get(name_)),
      problems_(log_) {}

void QueueRelay::add_status(status::StatusSnapshot& out) const {
  out.messages[name_] += messages_;
  problems_.add_totals(out.dropped);
}

void IopubRelay::add_status(status::StatusSnapshot& out) const {
  out.messages["iopub"] += messages_;
  problems_.add_totals(out.dropped);
}

void BroadcastScheduler::add_status(status::StatusSnapshot& out) const {
  out.messages["broadcast"] += messages_;
  problems_.add_totals(out.dropped);
}

void QueueRelay::attach(net::Reactor& reactor) {
  reactor.add(client_, [this] { from_client(); });
  reactor.add(engine_, [this] { from_engine(); });
  reactor.call_every(problems_.period(), [this] { problems_.flush(); });
}

void QueueRelay::from_client() {
  Frames frames;
  for (int budget = 0; budget < 1000 && net::recv_frames(client_, frames); ++budget) {
    ++messages_;
    // [client, engine, <IDS|MSG>, ...]: anything shorter cannot be routed.
    if (frames.size() < 3 || wire::view(frames[1]) == wire::kDelimiter) {
      problems_.report(spdlog::level::warn, "client message with no engine identity", [&] {
        return fmt::format("dropping a client message with no engine identity ({} frames)",
                           frames.size());
      });
      continue;
    }
    std::swap(frames[0], frames[1]);
    std::string engine(wire::view(frames[0]));
    send_monitor(monitor_, in_topic_, frames);
    if (!net::send_frames(engine_, std::move(frames))) {
      problems_.report(spdlog::level::warn, "request for an engine that is not connected", [&] {
        return fmt::format("engine {} is not connected; request dropped", log::printable(engine));
      });
    }
  }
}

void QueueRelay::from_engine() {
  Frames frames;
  for (int budget = 0; budget < 1000 && net::recv_frames(engine_, frames); ++budget) {
    ++messages_;
    if (frames.size() < 3) {
      problems_.report(spdlog::level::warn, "short engine message",
                       [] { return std::string("dropping a short engine message"); });
      continue;
    }
    std::swap(frames[0], frames[1]);
    auto checked = for_clients(session_, forward_check_, std::move(frames));
    if (!checked) {
      problems_.report(spdlog::level::warn, "bad engine message", [&] {
        return fmt::format("dropping an engine message for a client: {}", checked.error().what());
      });
      continue;
    }
    frames = std::move(checked->frames);
    send_monitor(monitor_, out_topic_, frames);
    net::send_frames(client_, std::move(frames));
  }
}

IopubRelay::IopubRelay(zmq::socket_t engine_sub, zmq::socket_t client_pub,
                       zmq::socket_t& monitor, wire::SessionConfig session)
    : sub_(std::move(engine_sub)),
      pub_(std::move(client_pub)),
      monitor_(monitor),
      session_(std::move(session)),
      log_(log::get("iopub")),
      problems_(log_) {}

void IopubRelay::attach(net::Reactor& reactor) {
  reactor.add(sub_, [this] { forward(); });
  reactor.call_every(problems_.period(), [this] { problems_.flush(); });
}

void IopubRelay::forward() {
  Frames frames;
  for (int budget = 0; budget < 1000 && net::recv_frames(sub_, frames); ++budget) {
    ++messages_;
    auto checked = for_clients(session_, forward_check_, std::move(frames));
    if (!checked) {
      problems_.report(spdlog::level::warn, "bad IOPub message", [&] {
        return fmt::format("dropping an IOPub message: {}", checked.error().what());
      });
      continue;
    }
    frames = std::move(checked->frames);
    // the hub records output but ignores busy/idle status, two of every task's messages
    if (wire::peek_msg_type(frames) != wire::msg::kStatus) send_monitor(monitor_, "iopub", frames);
    net::send_frames(pub_, std::move(frames));
  }
}

BroadcastScheduler::BroadcastScheduler(zmq::socket_t client, std::vector<zmq::socket_t> leaves,
                                       wire::SessionConfig session)
    : client_(std::move(client)),
      leaves_(std::move(leaves)),
      session_(std::move(session)),
      log_(log::get("broadcast")),
      problems_(log_) {}

void BroadcastScheduler::attach(net::Reactor& reactor) {
  reactor.add(client_, [this] { from_client(); });
  for (std::size_t i = 0; i < leaves_.size(); ++i) {
    reactor.add(leaves_[i], [this, i] { from_engine(i); });
  }
  reactor.call_every(problems_.period(), [this] { problems_.flush(); });
}

void BroadcastScheduler::from_client() {
  Frames frames;
  for (int budget = 0; budget < 1000 && net::recv_frames(client_, frames); ++budget) {
    ++messages_;
    auto raw = session_.authenticate(std::move(frames), /*record_digest=*/true);
    if (!raw) {
      problems_.report(spdlog::level::warn, "bad broadcast request", [&] {
        return fmt::format("dropping a broadcast request: {}", raw.error().what());
      });
      continue;
    }
    const auto& env = raw->env;
    auto metadata = wire::Session::unpack(wire::view(raw->frames[env.metadata()]));
    if (!metadata) {
      problems_.report(spdlog::level::warn, "broadcast request with bad metadata", [] {
        return std::string("dropping a broadcast request with bad metadata");
      });
      continue;
    }
    Json md = std::move(metadata).value();
    std::vector<std::string> route;
    for (std::size_t i = 0; i < env.delim; ++i) route.emplace_back(raw->identity(i));
    std::string original = md.value("original_msg_id", std::string());
    if (original.empty()) original = raw->msg_id();
    md["original_msg_id"] = original;
    Json targets = md.value("targets", Json::array());
    bool coalescing = md.value("is_coalescing", false);
    std::string parent(wire::view(raw->frames[env.parent()]));
    std::string content(wire::view(raw->frames[env.content()]));
    std::size_t sent = 0;
    Pending* pending = nullptr;
    if (coalescing) {
      pending = &coalescing_[original];
      pending->slots.clear();
    }
    for (const auto& t : targets) {
      if (!t.is_array() || t.size() != 2 || !t[0].is_string() || !t[1].is_number_integer()) {
        continue;
      }
      std::string uuid = t[0];
      long id = t[1];
      engine_ids_[uuid] = id;
      Json header = raw->header;
      header["msg_id"] = original + "_" + uuid;
      Json leaf_md = md;
      leaf_md["targets"] = Json::array({t});
      std::vector<std::string> idents;
      idents.reserve(route.size() + 1);
      idents.push_back(uuid);
      idents.insert(idents.end(), route.begin(), route.end());
      Frames out = session_.serialize_packed(idents, wire::Session::pack(header), parent,
                                             wire::Session::pack(leaf_md), content,
                                             net::share_all(raw->frames, env.first_buffer()));
      const std::size_t leaf_index = static_cast<std::size_t>(id) % leaves_.size();
      auto& leaf = leaves_[leaf_index];
      if (net::send_frames(leaf, std::move(out))) {
        if (pending != nullptr) pending->slots[uuid] = {leaf_index, sent};
        ++sent;
      } else {
        log_->warn("broadcast target {} (engine {}) is not connected", log::printable(uuid), id);
      }
    }
    if (coalescing) {
      auto& p = *pending;
      p.client_id = route.empty() ? std::string() : route.front();
      p.expected = sent;
      if (sent == 0) {
        p.last_header = raw->header;
        p.last_parent = wire::Session::unpack(parent).ok() ? *wire::Session::unpack(parent)
                                                           : Json::object();
        finish_coalescing(original, p);
      }
    }
  }
}

void BroadcastScheduler::from_engine(std::size_t leaf) {
  Frames frames;
  for (int budget = 0; budget < 1000 && net::recv_frames(leaves_[leaf], frames); ++budget) {
    ++messages_;
    // [engine uuid, client route..., <IDS|MSG>, ...]
    auto raw = session_.authenticate(std::move(frames), /*record_digest=*/false);
    if (!raw || raw->identity_count() < 1) {
      problems_.report(spdlog::level::warn, "bad broadcast reply",
                       [] { return std::string("dropping a bad broadcast reply"); });
      continue;
    }
    auto msg = wire::Session::parse(std::move(raw).value());
    if (!msg) {
      problems_.report(spdlog::level::warn, "bad broadcast reply", [&] {
        return fmt::format("dropping a broadcast reply: {}", msg.error().what());
      });
      continue;
    }
    std::string uuid = msg->identities.front();
    bool coalescing = msg->metadata.value("is_coalescing", false);
    std::string original = msg->metadata.value("original_msg_id", std::string());
    if (!coalescing) {
      // Pass it up unchanged: drop the engine identity, keep the client route.
      msg->identities.erase(msg->identities.begin());
      net::send_frames(client_, session_.serialize(std::move(msg).value()));
      continue;
    }
    auto it = coalescing_.find(original);
    if (it == coalescing_.end()) continue;
    Pending& p = it->second;
    auto idit = engine_ids_.find(uuid);
    Reply r;
    if (auto slot = p.slots.find(uuid); slot != p.slots.end()) {
      std::tie(r.leaf, r.position) = slot->second;
    } else {
      r.leaf = r.position = p.slots.size() + p.replies.size();  // unexpected: keep at the end
    }
    r.target = Json::array({uuid, idit == engine_ids_.end() ? -1 : idit->second});
    r.buffers = std::move(msg->buffers);
    p.replies.push_back(std::move(r));
    p.last_header = std::move(msg->header);
    p.last_parent = std::move(msg->parent_header);
    p.last_metadata = std::move(msg->metadata);
    p.last_content = std::move(msg->content);
    if (p.replies.size() >= p.expected) finish_coalescing(original, p);
  }
}

void BroadcastScheduler::finish_coalescing(const std::string& original, Pending& p) {
  wire::Message out;
  out.identities = {p.client_id};
  out.header = p.last_header.is_object() ? p.last_header : Json::object();
  out.parent_header = p.last_parent.is_object() ? p.last_parent : Json::object();
  out.metadata = p.last_metadata.is_object() ? p.last_metadata : Json::object();
  // Python's scheduler tree concatenates replies leaf by leaf (leaf = engine id mod 2^depth),
  // each leaf in request order; clients map results to engines through broadcast_targets.
  std::stable_sort(p.replies.begin(), p.replies.end(), [](const Reply& a, const Reply& b) {
    return std::tie(a.leaf, a.position) < std::tie(b.leaf, b.position);
  });
  Json targets = Json::array();
  for (auto& r : p.replies) {
    targets.push_back(std::move(r.target));
    for (auto& b : r.buffers) out.buffers.push_back(std::move(b));
  }
  out.metadata["broadcast_targets"] = std::move(targets);
  out.metadata["original_msg_id"] = original;
  out.metadata["is_coalescing"] = true;
  out.metadata["is_broadcast"] = true;
  out.content = p.last_content.is_object() ? p.last_content : Json{{"status", "ok"}};
  net::send_frames(client_, session_.serialize(std::move(out)));
  coalescing_.erase(original);
}

}  // namespace ipp::controller::service
