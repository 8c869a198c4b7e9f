#include "ipp/controller/db/memory_task_db.hpp"

#include "ipp/controller/db/query.hpp"
#include "ipp/util/ids.hpp"

#include <algorithm>

namespace ipp::controller::db {

namespace {

std::size_t buffer_size(const TaskRecord& r) {
  std::size_t n = 0;
  for (const auto& b : r.buffers) n += b.size();
  for (const auto& b : r.result_buffers) n += b.size();
  return n;
}

}  // namespace

std::optional<MemoryTaskDb::HistKey> MemoryTaskDb::history_key(const Json& fields,
                                                               std::uint64_t seq) const {
  auto it = fields.find("submitted");
  if (it == fields.end() || !it->is_string()) return std::nullopt;
  auto t = parse_iso8601(it->get_ref<const std::string&>());
  if (!t) return std::nullopt;
  return HistKey{t->time_since_epoch().count(), seq};
}

void MemoryTaskDb::reindex(const std::string& msg_id, Entry& entry) {
  const std::uint64_t seq = entry.hist ? entry.hist->second : next_seq_++;
  auto key = history_key(entry.record.fields, seq);
  if (key == entry.hist) return;
  if (entry.hist) history_.erase(*entry.hist);
  entry.hist = key;
  if (key) history_.emplace(*key, msg_id);
}

void MemoryTaskDb::erase(std::unordered_map<std::string, Entry>::iterator it) {
  if (it->second.hist) history_.erase(*it->second.hist);
  buffer_bytes_ -= it->second.bytes;
  records_.erase(it);
}

void MemoryTaskDb::cull_oldest(std::size_t n) {
  for (std::size_t i = 0; i < n && !history_.empty(); ++i) {
    const std::string msg_id = history_.begin()->second;
    if (culled_.insert(msg_id).second) culled_order_.push_back(msg_id);
    while (culled_order_.size() > options_.culled_id_limit) {
      culled_.erase(culled_order_.front());
      culled_order_.pop_front();
    }
    erase(records_.find(msg_id));
  }
}

void MemoryTaskDb::maybe_cull() {
  if (records_.size() > options_.record_limit) {
    const auto n = static_cast<std::size_t>(options_.cull_fraction *
                                            static_cast<double>(options_.record_limit));
    cull_oldest(std::max<std::size_t>(n, 1));
  }
  if (buffer_bytes_ > options_.size_limit) {
    const double limit = static_cast<double>(options_.size_limit) * (1.0 - options_.cull_fraction);
    while (static_cast<double>(buffer_bytes_) > limit && !history_.empty()) cull_oldest(1);
  }
}

DbStatus MemoryTaskDb::add_record(const std::string& msg_id, TaskRecord record) {
  if (records_.count(msg_id) != 0) return key_error("Already have msg_id '" + msg_id + "'");
  record.fields["msg_id"] = msg_id;
  auto [it, inserted] = records_.emplace(msg_id, Entry{std::move(record), std::nullopt, 0});
  (void)inserted;
  it->second.bytes = buffer_size(it->second.record);
  buffer_bytes_ += it->second.bytes;
  reindex(msg_id, it->second);
  maybe_cull();
  return Ok{};
}

DbStatus MemoryTaskDb::update_record(const std::string& msg_id, RecordUpdate update) {
  if (culled_.count(msg_id) != 0)
    return key_error("Record '" + msg_id + "' has been culled for size");
  auto it = records_.find(msg_id);
  if (it == records_.end()) return key_error(msg_id);
  Entry& e = it->second;
  for (auto f = update.fields.begin(); f != update.fields.end(); ++f)
    e.record.fields[f.key()] = std::move(f.value());
  if (update.buffers) e.record.buffers = std::move(*update.buffers);
  if (update.result_buffers) e.record.result_buffers = std::move(*update.result_buffers);
  buffer_bytes_ -= e.bytes;
  e.bytes = buffer_size(e.record);
  buffer_bytes_ += e.bytes;
  if (update.fields.contains("submitted")) reindex(msg_id, e);
  maybe_cull();
  return Ok{};
}

DbResult<TaskRecord> MemoryTaskDb::get_record(const std::string& msg_id) {
  if (culled_.count(msg_id) != 0)
    return key_error("Record '" + msg_id + "' has been culled for size");
  auto it = records_.find(msg_id);
  if (it == records_.end()) return key_error("No such msg_id '" + msg_id + "'");
  materialize(it->second.record.fields);
  return it->second.record;
}

bool MemoryTaskDb::contains(const std::string& msg_id) {
  return culled_.count(msg_id) == 0 && records_.count(msg_id) != 0;
}

DbStatus MemoryTaskDb::drop_record(const std::string& msg_id) {
  auto it = records_.find(msg_id);
  if (it == records_.end()) return key_error(msg_id);
  erase(it);
  return Ok{};
}

DbStatus MemoryTaskDb::drop_matching_records(const Json& query) {
  auto st = validate_query(query);
  if (!st) return st.error();
  for (auto it = records_.begin(); it != records_.end();) {
    auto next = std::next(it);
    materialize(it->second.record.fields);
    if (matches(it->second.record.fields, query)) erase(it);
    it = next;
  }
  return Ok{};
}

DbResult<std::vector<TaskRecord>> MemoryTaskDb::find_records(const Json& query,
                                                             const KeySelection& keys) {
  auto st = validate_query(query);
  if (!st) return st.error();
  std::vector<TaskRecord> out;
  // History order first, then the undated records: a stable, meaningful order for callers.
  for (const auto& [key, msg_id] : history_) {
    (void)key;
    auto& rec = records_.at(msg_id).record;
    materialize(rec.fields);
    if (matches(rec.fields, query)) out.push_back(select_keys(rec, keys));
  }
  for (auto& [msg_id, e] : records_) {
    if (e.hist) continue;
    materialize(e.record.fields);
    if (matches(e.record.fields, query)) out.push_back(select_keys(e.record, keys));
  }
  return out;
}

DbResult<std::vector<std::string>> MemoryTaskDb::get_history() {
  std::vector<std::string> out;
  out.reserve(history_.size());
  for (const auto& [key, msg_id] : history_) {
    (void)key;
    out.push_back(msg_id);
  }
  return out;
}

}  // namespace ipp::controller::db
