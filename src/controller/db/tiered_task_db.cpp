#include "ipp/controller/db/tiered_task_db.hpp"

#include "ipp/controller/db/query.hpp"

namespace ipp::controller::db {

namespace {
std::size_t buffer_size(const TaskRecord& r) {
  std::size_t n = 0;
  for (const auto& b : r.buffers) n += b.size();
  for (const auto& b : r.result_buffers) n += b.size();
  return n;
}
}  // namespace

TieredTaskDb::TieredTaskDb(Options options) : options_(options), sqlite_(options.sqlite) {}

TieredTaskDb::~TieredTaskDb() {
  (void)write_through();
  sqlite_.flush();
}

void TieredTaskDb::evict() {
  while (!order_.empty() &&
         (cache_.size() > options_.cache_records || cache_bytes_ > options_.cache_bytes)) {
    auto it = cache_.find(order_.front());
    order_.pop_front();
    if (it->second.dirty) (void)sqlite_.put_record(it->first, it->second.record);
    cache_bytes_ -= it->second.bytes;
    cache_.erase(it);
  }
}

DbStatus TieredTaskDb::write_through() {
  for (auto& [msg_id, e] : cache_) {
    if (!e.dirty) continue;
    auto st = sqlite_.put_record(msg_id, e.record);
    if (!st) return st;
    e.dirty = false;
  }
  return Ok{};
}

DbStatus TieredTaskDb::add_record(const std::string& msg_id, TaskRecord record) {
  if (cache_.count(msg_id) != 0 || sqlite_.contains(msg_id))
    return key_error("Already have msg_id '" + msg_id + "'");
  record.fields["msg_id"] = msg_id;
  order_.push_back(msg_id);
  Entry e{std::move(record), true, 0, std::prev(order_.end())};
  e.bytes = buffer_size(e.record);
  cache_bytes_ += e.bytes;
  cache_.emplace(msg_id, std::move(e));
  evict();
  return Ok{};
}

DbStatus TieredTaskDb::update_record(const std::string& msg_id, RecordUpdate update) {
  auto it = cache_.find(msg_id);
  if (it == cache_.end()) return sqlite_.update_record(msg_id, std::move(update));
  Entry& e = it->second;
  for (auto f = update.fields.begin(); f != update.fields.end(); ++f)
    e.record.fields[f.key()] = std::move(f.value());
  if (update.buffers) e.record.buffers = std::move(*update.buffers);
  if (update.result_buffers) e.record.result_buffers = std::move(*update.result_buffers);
  cache_bytes_ -= e.bytes;
  e.bytes = buffer_size(e.record);
  cache_bytes_ += e.bytes;
  e.dirty = true;
  evict();
  return Ok{};
}

DbResult<TaskRecord> TieredTaskDb::get_record(const std::string& msg_id) {
  auto it = cache_.find(msg_id);
  if (it != cache_.end()) {
    materialize(it->second.record.fields);
    return it->second.record;
  }
  return sqlite_.get_record(msg_id);
}

bool TieredTaskDb::contains(const std::string& msg_id) {
  return cache_.count(msg_id) != 0 || sqlite_.contains(msg_id);
}

DbStatus TieredTaskDb::drop_record(const std::string& msg_id) {
  auto it = cache_.find(msg_id);
  if (it != cache_.end()) {
    order_.erase(it->second.pos);
    cache_bytes_ -= it->second.bytes;
    cache_.erase(it);
  }
  return sqlite_.drop_record(msg_id);
}

DbStatus TieredTaskDb::drop_matching_records(const Json& query) {
  if (auto st = write_through(); !st) return st;
  if (auto st = sqlite_.drop_matching_records(query); !st) return st;
  for (auto it = cache_.begin(); it != cache_.end();) {
    materialize(it->second.record.fields);
    if (matches(it->second.record.fields, query)) {
      order_.erase(it->second.pos);
      cache_bytes_ -= it->second.bytes;
      it = cache_.erase(it);
    } else {
      ++it;
    }
  }
  return Ok{};
}

DbResult<std::vector<TaskRecord>> TieredTaskDb::find_records(const Json& query,
                                                             const KeySelection& keys) {
  if (auto st = write_through(); !st) return st.error();
  return sqlite_.find_records(query, keys);
}

DbResult<std::vector<std::string>> TieredTaskDb::get_history() {
  if (auto st = write_through(); !st) return st.error();
  return sqlite_.get_history();
}

void TieredTaskDb::tick(TimePoint now) { sqlite_.tick(now); }

void TieredTaskDb::flush() {
  (void)write_through();
  sqlite_.flush();
}

}  // namespace ipp::controller::db
