#pragma once
// SqliteTaskDb: ipyparallel's SQLiteDB. File <directory>/<filename> (tasks.db), table
// "ipython-tasks" with the columns of protocol.md 8.1 (9.1 layout, `label` last) and Python's
// declared types, so Python and C++ controllers can read each other's files: dicts as JSON text,
// buffers as pickled lists of bytes, dates as ISO-8601 text (normalised to UTC with
// microseconds, so text order is time order). An existing table with another layout is left
// alone and "<table>_1", "_2", ... is used instead, as Python does.
//
// Writes are batched in one transaction committed by tick() every commit_interval (Python: 2 s),
// after batch_limit writes, and by flush() / the destructor. Queries: the operators SQL can do
// are pushed down as a pre-filter, then every row is checked with the shared matcher (query.hpp),
// so semantics equal MemoryTaskDb's. Unknown fields in a query are KeyError("Illegal testing
// key(s): {...}"), as SQLiteDB; fields outside the schema are dropped on add/update (SQLiteDB
// fails the whole update).
//
// Owning thread: the hub's (the sqlite3 handle is used from that thread only). Lifetime: the
// controller's; the file stays.
#include "ipp/controller/db/task_db.hpp"

#include <map>
#include <memory>
#include <stdexcept>

struct sqlite3;
struct sqlite3_stmt;

namespace ipp::controller::db {

class SqliteTaskDb final : public TaskDb {
 public:
  struct Options {
    std::string directory = ".";
    std::string filename = "tasks.db";
    std::string table = "ipython-tasks";
    Duration commit_interval = std::chrono::seconds(2);
    std::size_t batch_limit = 20000;
  };

  // Throws std::runtime_error naming the file when it cannot be opened or set up (start-up).
  explicit SqliteTaskDb(Options options);
  ~SqliteTaskDb() override;
  SqliteTaskDb(const SqliteTaskDb&) = delete;
  SqliteTaskDb& operator=(const SqliteTaskDb&) = delete;

  std::string_view backend_name() const override { return "SQLiteDB"; }
  DbStatus add_record(const std::string& msg_id, TaskRecord record) override;
  DbStatus update_record(const std::string& msg_id, RecordUpdate update) override;
  DbResult<TaskRecord> get_record(const std::string& msg_id) override;
  DbStatus drop_record(const std::string& msg_id) override;
  DbStatus drop_matching_records(const Json& query) override;
  DbResult<std::vector<TaskRecord>> find_records(const Json& query,
                                                 const KeySelection& keys = {}) override;
  DbResult<std::vector<std::string>> get_history() override;
  void tick(TimePoint now) override;
  void flush() override;

  // Insert or overwrite a whole record (TieredTaskDb spilling its cache).
  DbStatus put_record(const std::string& msg_id, const TaskRecord& record);
  bool contains(const std::string& msg_id) override;
  std::size_t record_count();
  std::optional<std::uint64_t> count_records() override { return record_count(); }
  const std::string& table() const { return table_; }
  std::string path() const;

 private:
  sqlite3_stmt* prepare(const std::string& sql);
  sqlite3_stmt* cached(const std::string& sql);
  DbStatus exec(const std::string& sql);
  void begin_write();
  DbStatus write_row(sqlite3_stmt* stmt, const std::string& msg_id, const TaskRecord& record);
  DbResult<std::vector<TaskRecord>> select(const Json& query);
  DbError sql_error(const char* what) const;

  Options options_;
  std::string table_;
  sqlite3* db_ = nullptr;
  std::map<std::string, sqlite3_stmt*> stmts_;
  bool in_txn_ = false;
  std::size_t pending_writes_ = 0;
  TimePoint last_commit_{};
};

}  // namespace ipp::controller::db
