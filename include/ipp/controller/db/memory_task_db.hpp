#pragma once
// MemoryTaskDb: ipyparallel's DictDB (the default backend). Bounded: past record_limit records
// the oldest cull_fraction * record_limit are culled; past size_limit buffer bytes the oldest are
// culled until below size_limit * (1 - cull_fraction). Asking for a culled record gives
// KeyError("Record '<id>' has been culled for size"). "Oldest" = earliest `submitted`, as
// DictDB's get_history (records without a date are never culled, as in Python).
//
// Unlike DictDB the set of culled ids is bounded too (culled_id_limit, oldest forgotten first:
// those then read as "No such msg_id").
// Owning thread: the hub's; not thread-safe. Lifetime: the controller's.
#include "ipp/controller/db/task_db.hpp"

#include <cstdint>
#include <deque>
#include <map>
#include <unordered_map>
#include <unordered_set>

namespace ipp::controller::db {

class MemoryTaskDb final : public TaskDb {
 public:
  struct Options {
    std::size_t record_limit = 1024;
    double cull_fraction = 0.1;
    std::size_t size_limit = std::size_t{1} << 30;  // bytes of request + reply buffers
    std::size_t culled_id_limit = 100000;
  };

  MemoryTaskDb() : MemoryTaskDb(Options{}) {}
  explicit MemoryTaskDb(Options options) : options_(options) {}

  std::string_view backend_name() const override { return "DictDB"; }
  DbStatus add_record(const std::string& msg_id, TaskRecord record) override;
  DbStatus update_record(const std::string& msg_id, RecordUpdate update) override;
  DbResult<TaskRecord> get_record(const std::string& msg_id) override;
  bool contains(const std::string& msg_id) override;
  DbStatus drop_record(const std::string& msg_id) override;
  DbStatus drop_matching_records(const Json& query) override;
  DbResult<std::vector<TaskRecord>> find_records(const Json& query,
                                                 const KeySelection& keys = {}) override;
  DbResult<std::vector<std::string>> get_history() override;

  std::size_t record_count() const { return records_.size(); }
  std::optional<std::uint64_t> count_records() override { return records_.size(); }
  std::size_t buffer_bytes() const { return buffer_bytes_; }
  bool culled(const std::string& msg_id) const override { return culled_.count(msg_id) != 0; }
  const Options& options() const { return options_; }

 private:
  // History order: submitted time (microseconds since the epoch), then insertion order.
  using HistKey = std::pair<std::int64_t, std::uint64_t>;
  struct Entry {
    TaskRecord record;
    std::optional<HistKey> hist;
    std::size_t bytes = 0;
  };

  std::optional<HistKey> history_key(const Json& fields, std::uint64_t seq) const;
  void reindex(const std::string& msg_id, Entry& entry);
  void erase(std::unordered_map<std::string, Entry>::iterator it);
  void cull_oldest(std::size_t n);
  void maybe_cull();

  Options options_;
  std::unordered_map<std::string, Entry> records_;
  std::map<HistKey, std::string> history_;
  std::size_t buffer_bytes_ = 0;
  std::uint64_t next_seq_ = 0;
  std::unordered_set<std::string> culled_;
  std::deque<std::string> culled_order_;
};

}  // namespace ipp::controller::db
