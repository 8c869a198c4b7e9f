#include "engine_registry.hpp"

namespace ipp::controller::hub {

const char* describe(Departure why) {
  switch (why) {
    case Departure::Requested:
      return "unregistration request";
    case Departure::Shutdown:
      return "shutdown";
    case Departure::HeartFailure:
      return "heartbeat failure";
    case Departure::ConnectionLost:
      return "its connection closed: the engine process exited";
  }
  return "unknown";
}

EngineRegistry::EngineRegistry(Options options, TimePoint start)
    : options_(options), hearts_({options.period, options.max_misses}, start) {}

int EngineRegistry::next_id(std::optional<int> requested, bool& changed) {
  changed = false;
  if (requested) {
    const int want = *requested;
    bool taken = engines_.count(want) != 0;
    for (const auto& [_, p] : pending_) taken = taken || p.id == want;
    if (!taken && want >= 0) {
      next_id_ = std::max(next_id_, want + 1);
      return want;
    }
    changed = true;
  }
  return next_id_++;
}

EngineRegistry::Admission EngineRegistry::admit(const std::string& uuid,
                                                std::optional<int> requested_id, TimePoint now) {
  Admission a;
  if (by_uuid_.count(uuid) != 0 || pending_.count(uuid) != 0) {
    a.error = "uuid '" + uuid + "' in use";
    return a;
  }
  a.id = next_id(requested_id, a.id_changed);
  pending_.emplace(uuid, Pending{a.id, now + options_.registration_timeout});
  if (hearts_.is_known(uuid)) complete(uuid, now, a.events);
  return a;
}

void EngineRegistry::complete(const std::string& uuid, TimePoint now, Events& out) {
  auto it = pending_.find(uuid);
  if (it == pending_.end()) return;
  const int id = it->second.id;
  pending_.erase(it);
  engines_[id] = RegisteredEngine{id, uuid, now};
  by_uuid_[uuid] = id;
  out.push_back(Event{Event::Kind::Registered, id, uuid});
}

EngineRegistry::Events EngineRegistry::pong(std::string_view uuid, std::string_view payload,
                                            TimePoint now) {
  Events out;
  if (!hearts_.pong(uuid, payload, now)) return out;  // known already, or not valid
  complete(std::string(uuid), now, out);
  return out;
}

EngineRegistry::Beat EngineRegistry::beat(TimePoint now) {
  Beat out;
  auto b = hearts_.beat(now);
  out.ping = std::move(b.ping);
  for (const auto& uuid : b.failed_hearts) {
    if (auto id = id_of(uuid)) remove(*id, Departure::HeartFailure, out.events);
    forget_connection(uuid);
  }
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (it->second.deadline <= now) {
      out.events.push_back(Event{Event::Kind::Purged, it->second.id, it->first});
      forget_connection(it->first);
      it = pending_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

void EngineRegistry::remove(int id, Departure why, Events& out) {
  auto it = engines_.find(id);
  if (it == engines_.end()) return;
  std::string uuid = std::move(it->second.uuid);
  engines_.erase(it);
  by_uuid_.erase(uuid);
  hearts_.forget(uuid);
  forget_connection(uuid);
  out.push_back(Event{Event::Kind::Unregistered, id, std::move(uuid), why});
}

EngineRegistry::Events EngineRegistry::unregister(int id, Departure why) {
  Events out;
  if (engines_.count(id) != 0) {
    remove(id, why, out);
    return out;
  }
  // A pending registration is cancelled (as 9.1 does).
  for (auto it = pending_.begin(); it != pending_.end(); ++it) {
    if (it->second.id == id) {
      out.push_back(Event{Event::Kind::Purged, id, it->first});
      hearts_.forget(it->first);
      forget_connection(it->first);
      pending_.erase(it);
      break;
    }
  }
  return out;
}

bool EngineRegistry::connection_is_new(std::string_view uuid, int fd) const {
  auto it = fd_of_.find(std::string(uuid));
  return it == fd_of_.end() || it->second != fd;
}

void EngineRegistry::connection_seen(std::string_view uuid, int fd) {
  if (fd < 0) return;
  std::string key(uuid);
  auto it = fd_of_.find(key);
  if (it != fd_of_.end()) {
    if (it->second == fd) return;
    // The engine answers on a new connection (it reconnected): the old descriptor is not its.
    auto o = owner_of_fd_.find(it->second);
    if (o != owner_of_fd_.end() && o->second == key) owner_of_fd_.erase(o);
  }
  // Whoever had this descriptor before has lost that connection (reported or not).
  if (auto prev = owner_of_fd_.find(fd); prev != owner_of_fd_.end() && prev->second != key) {
    fd_of_.erase(prev->second);
  }
  fd_of_[key] = fd;
  owner_of_fd_[fd] = std::move(key);
}

void EngineRegistry::forget_connection(const std::string& uuid) {
  auto it = fd_of_.find(uuid);
  if (it == fd_of_.end()) return;
  auto o = owner_of_fd_.find(it->second);
  if (o != owner_of_fd_.end() && o->second == uuid) owner_of_fd_.erase(o);
  fd_of_.erase(it);
}

EngineRegistry::Events EngineRegistry::connection_lost(int fd, TimePoint /*now*/) {
  Events out;
  auto o = owner_of_fd_.find(fd);
  if (o == owner_of_fd_.end()) return out;
  const std::string uuid = o->second;
  forget_connection(uuid);
  if (auto id = id_of(uuid)) {
    remove(*id, Departure::ConnectionLost, out);
  } else if (auto p = pending_.find(uuid); p != pending_.end()) {
    out.push_back(Event{Event::Kind::Purged, p->second.id, uuid});
    pending_.erase(p);
    hearts_.forget(uuid);
  } else {
    hearts_.forget(uuid);
  }
  return out;
}

void EngineRegistry::restore(const EngineState& state, TimePoint now) {
  for (const auto& [id, uuid] : state.engines) {
    if (engines_.count(id) != 0 || by_uuid_.count(uuid) != 0) continue;
    engines_[id] = RegisteredEngine{id, uuid, now};
    by_uuid_[uuid] = id;
    hearts_.expect(uuid);
    next_id_ = std::max(next_id_, id + 1);
  }
  next_id_ = std::max(next_id_, state.next_id);
}

EngineState EngineRegistry::snapshot() const {
  EngineState s;
  for (const auto& [id, e] : engines_) s.engines.emplace(id, e.uuid);
  s.next_id = next_id_;
  return s;
}

const RegisteredEngine* EngineRegistry::find(int id) const {
  auto it = engines_.find(id);
  return it == engines_.end() ? nullptr : &it->second;
}

std::optional<int> EngineRegistry::id_of(std::string_view uuid) const {
  auto it = by_uuid_.find(std::string(uuid));
  if (it == by_uuid_.end()) return std::nullopt;
  return it->second;
}

}  // namespace ipp::controller::hub
