#pragma once
// TaskDb: the hub's task-record store (ipyparallel controller/dictdb.py BaseDB interface;
// protocol.md 8). Records are JSON objects with the fields of protocol.md 8.1 (dates as ISO-8601
// strings); the request and reply buffers are held beside them as byte strings.
//
// Errors are values carrying the Python exception the hub wraps (protocol.md 5.12): ename
// ("KeyError", "NoData", ...) and evalue = str(exception) exactly as Python prints it (a KeyError
// prints the repr of its message, hence the quotes).
//
// Implementations: MemoryTaskDb (DictDB), SqliteTaskDb (SQLiteDB), NoTaskDb (NoDB),
// TieredTaskDb (bounded memory cache in front of SQLite). Owning thread: the hub's (main
// reactor); not thread-safe. Lifetime: the controller's.
#include "ipp/util/clock.hpp"
#include "ipp/util/result.hpp"
#include "ipp/wire/errors.hpp"
#include "ipp/wire/message.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ipp::controller::db {

using Json = wire::Json;
using Buffers = std::vector<std::string>;

struct DbError {
  std::string ename;
  std::string evalue;  // str(exception) as Python prints it
};

template <typename T>
using DbResult = Result<T, DbError>;
using DbStatus = DbResult<Ok>;

// KeyError(message): evalue is Python's repr of the message.
DbError key_error(std::string_view message);
// NoDB's NoData (a KeyError subclass with its own __str__).
DbError no_data();
// Python repr() of a str, shared with every other error text of the controller.
using wire::python_repr;

// A record part (header, metadata, content and their result_ counterparts) may be held as the
// JSON text it arrived in, already checked as unpack would, and parsed only when the record is
// read: the store culls most records unread, and building and later freeing a tree per part cost
// the hub more than the rest of its work per task. Such a part is a binary value with its own
// subtype, so it moves and merges like any other field. Every read that leaves a store (get,
// find, query matching, writing a row) goes through materialize.
inline constexpr std::uint64_t kRawJsonSubtype = 0x4a;
Json raw_json(std::string_view text);
bool is_raw_json(const Json& v);
std::string_view raw_json_text(const Json& v);
// Parses the raw parts of `fields` in place (a part that no longer parses becomes null).
void materialize(Json& fields);

struct TaskRecord {
  Json fields = Json::object();  // every 8.1 field except the two buffer lists
  Buffers buffers;               // request buffers
  Buffers result_buffers;        // reply buffers
};

// A partial update: `fields` are merged into the record (dict.update); a buffer list is replaced
// only when present.
struct RecordUpdate {
  Json fields = Json::object();
  std::optional<Buffers> buffers;
  std::optional<Buffers> result_buffers;
};

// `keys` for find_records: nullopt or empty = whole records (with buffers); otherwise msg_id plus
// the named fields (null when a record lacks one), and buffers only if "buffers" /
// "result_buffers" are named.
using KeySelection = std::optional<std::vector<std::string>>;

class TaskDb {
 public:
  virtual ~TaskDb() = default;
  // Python's class name, for "Hub using DB backend: ..." (DictDB, SQLiteDB, NoDB, TieredDB).
  virtual std::string_view backend_name() const = 0;

  virtual DbStatus add_record(const std::string& msg_id, TaskRecord record) = 0;
  virtual DbStatus update_record(const std::string& msg_id, RecordUpdate update) = 0;
  virtual DbResult<TaskRecord> get_record(const std::string& msg_id) = 0;
  // Whether get_record would find the record, without copying it out.
  virtual bool contains(const std::string& msg_id) { return get_record(msg_id).ok(); }
  // Whether the record was dropped to bound the store's size (DictDB's culling): updates and
  // output for it have nowhere to go and are dropped by the hub without complaint.
  virtual bool culled(const std::string& /*msg_id*/) const { return false; }
  virtual DbStatus drop_record(const std::string& msg_id) = 0;
  // MongoDB-style query (protocol.md 8.2); see query.hpp.
  virtual DbStatus drop_matching_records(const Json& query) = 0;
  virtual DbResult<std::vector<TaskRecord>> find_records(const Json& query,
                                                         const KeySelection& keys = {}) = 0;
  // msg_ids of records with a `submitted` date, oldest first.
  virtual DbResult<std::vector<std::string>> get_history() = 0;

  // How many records the store holds, when it can tell without reading them (status page).
  virtual std::optional<std::uint64_t> count_records() { return std::nullopt; }

  // Periodic housekeeping (commits of batched writes); call about once a second.
  virtual void tick(TimePoint /*now*/) {}
  // Make everything written so far durable.
  virtual void flush() {}
};

// Copies the selected keys of a whole record (see KeySelection).
TaskRecord select_keys(const TaskRecord& record, const KeySelection& keys);

}  // namespace ipp::controller::db
