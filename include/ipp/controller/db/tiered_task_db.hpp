#pragma once
// TieredTaskDb: the default store for long runs. A bounded in-memory cache of recent records
// (whole records with buffers, newest last) in front of a SqliteTaskDb that holds everything.
// Records are written to SQLite when they leave the cache or before any query, so memory stays
// bounded (cache_records / cache_bytes) after millions of tasks while every result stays
// readable: get_record of an old id reads it back from SQLite (unlike DictDB, nothing is culled).
// Hot-path operations (add, update and get of recent records) touch memory only.
// Queries (find, drop_matching, history) first write the cache through, then run on SQLite, so
// they have SqliteTaskDb's semantics.
//
// Owning thread: the hub's; not thread-safe. Lifetime: the controller's.
#include "ipp/controller/db/sqlite_task_db.hpp"

#include <list>
#include <unordered_map>

namespace ipp::controller::db {

class TieredTaskDb final : public TaskDb {
 public:
  struct Options {
    SqliteTaskDb::Options sqlite;
    std::size_t cache_records = 4096;
    std::size_t cache_bytes = std::size_t{256} << 20;  // buffer bytes held in the cache
  };

  // Throws like SqliteTaskDb when the file cannot be opened.
  explicit TieredTaskDb(Options options);
  ~TieredTaskDb() override;

  std::string_view backend_name() const override { return "TieredDB"; }
  DbStatus add_record(const std::string& msg_id, TaskRecord record) override;
  DbStatus update_record(const std::string& msg_id, RecordUpdate update) override;
  DbResult<TaskRecord> get_record(const std::string& msg_id) override;
  bool contains(const std::string& msg_id) override;
  DbStatus drop_record(const std::string& msg_id) override;
  DbStatus drop_matching_records(const Json& query) override;
  DbResult<std::vector<TaskRecord>> find_records(const Json& query,
                                                 const KeySelection& keys = {}) override;
  DbResult<std::vector<std::string>> get_history() override;
  void tick(TimePoint now) override;
  void flush() override;

  std::size_t cached_records() const { return cache_.size(); }
  std::size_t cached_bytes() const { return cache_bytes_; }
  SqliteTaskDb& backing() { return sqlite_; }

 private:
  struct Entry {
    TaskRecord record;
    bool dirty = true;
    std::size_t bytes = 0;
    std::list<std::string>::iterator pos;
  };
  DbStatus write_through();
  void evict();

  Options options_;
  SqliteTaskDb sqlite_;
  std::unordered_map<std::string, Entry> cache_;
  std::list<std::string> order_;  // oldest first
  std::size_t cache_bytes_ = 0;
};

}  // namespace ipp::controller::db
