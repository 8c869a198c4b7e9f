#include "ipp/controller/db/sqlite_task_db.hpp"

#include "db/pickle_buffers.hpp"
#include "ipp/controller/db/query.hpp"
#include "ipp/util/ids.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <cctype>
#include <set>

namespace ipp::controller::db {

namespace {

enum class Kind { Text, JsonText, Dict, Bufs, Timestamp };

struct Column {
  const char* name;
  const char* decl;  // declared type, as Python's SQLiteDB (PRAGMA table_info reports it)
  Kind kind;
};

// protocol.md 8.1, Python's column order with 9.1's `label` last.
constexpr Column kColumns[] = {
    {"msg_id", "text", Kind::Text},
    {"header", "dict text", Kind::Dict},
    {"metadata", "dict text", Kind::Dict},
    {"content", "dict text", Kind::Dict},
    {"buffers", "bufs blob", Kind::Bufs},
    {"submitted", "timestamp", Kind::Timestamp},
    {"client_uuid", "text", Kind::Text},
    {"engine_uuid", "text", Kind::Text},
    {"started", "timestamp", Kind::Timestamp},
    {"completed", "timestamp", Kind::Timestamp},
    {"resubmitted", "text", Kind::Text},
    {"received", "timestamp", Kind::Timestamp},
    {"result_header", "dict text", Kind::Dict},
    {"result_metadata", "dict text", Kind::Dict},
    {"result_content", "dict text", Kind::Dict},
    {"result_buffers", "bufs blob", Kind::Bufs},
    {"queue", "text", Kind::Text},
    {"execute_input", "text", Kind::Text},
    {"execute_result", "text", Kind::JsonText},
    {"error", "text", Kind::JsonText},
    {"stdout", "text", Kind::Text},
    {"stderr", "text", Kind::Text},
    {"label", "text", Kind::Text},
};
constexpr int kColumnCount = static_cast<int>(std::size(kColumns));

const Column* find_column(std::string_view name) {
  for (const auto& c : kColumns)
    if (name == c.name) return &c;
  return nullptr;
}

std::string sql_ident(std::string_view ident) {
  std::string out = "\"";
  for (char c : ident) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

// SQLite reports the PRIMARY KEY column's type upper-cased ("TEXT").
bool same_type(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string normalise_date(const std::string& s) {
  auto t = parse_iso8601(s);
  return t ? iso8601(*t) : s;
}

// Binds a scalar JSON value; dates normalised for timestamp columns.
void bind_value(sqlite3_stmt* st, int idx, const Json& v, Kind kind) {
  if (v.is_null()) {
    sqlite3_bind_null(st, idx);
  } else if (v.is_string()) {
    const std::string s = kind == Kind::Timestamp ? normalise_date(v.get<std::string>())
                                                  : v.get<std::string>();
    sqlite3_bind_text(st, idx, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
  } else if (v.is_boolean()) {
    sqlite3_bind_int(st, idx, v.get<bool>() ? 1 : 0);
  } else if (v.is_number_integer()) {
    sqlite3_bind_int64(st, idx, v.get<std::int64_t>());
  } else if (v.is_number()) {
    sqlite3_bind_double(st, idx, v.get<double>());
  } else {
    const std::string s = v.dump();
    sqlite3_bind_text(st, idx, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
  }
}

void bind_field(sqlite3_stmt* st, int idx, const Column& col, const Json& v) {
  if (v.is_null()) {
    sqlite3_bind_null(st, idx);
    return;
  }
  if (is_raw_json(v)) {  // a part kept as the (checked) JSON text it arrived in
    const std::string_view s = raw_json_text(v);
    sqlite3_bind_text(st, idx, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
    return;
  }
  if (col.kind == Kind::Dict || ((col.kind == Kind::JsonText) && !v.is_string())) {
    const std::string s = v.dump();
    sqlite3_bind_text(st, idx, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
    return;
  }
  bind_value(st, idx, v, col.kind);
}

void bind_bufs(sqlite3_stmt* st, int idx, const Buffers& bufs) {
  if (bufs.empty()) {
    sqlite3_bind_null(st, idx);
    return;
  }
  const std::string blob = pickle_buffers(bufs);
  sqlite3_bind_blob(st, idx, blob.data(), static_cast<int>(blob.size()), SQLITE_TRANSIENT);
}

std::string column_text(sqlite3_stmt* st, int i) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st, i));
  return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(st, i))) : std::string();
}

TaskRecord read_row(sqlite3_stmt* st) {
  TaskRecord rec;
  for (int i = 0; i < kColumnCount; ++i) {
    const Column& col = kColumns[i];
    const int type = sqlite3_column_type(st, i);
    if (col.kind == Kind::Bufs) {
      if (type == SQLITE_NULL) continue;
      const auto* p = static_cast<const char*>(sqlite3_column_blob(st, i));
      const auto n = static_cast<std::size_t>(sqlite3_column_bytes(st, i));
      auto bufs = unpickle_buffers(std::string_view(p ? p : "", n));
      if (bufs) (i == 4 ? rec.buffers : rec.result_buffers) = std::move(*bufs);
      continue;
    }
    Json& out = rec.fields[col.name];
    if (type == SQLITE_NULL) {
      out = nullptr;
    } else if (type == SQLITE_INTEGER) {
      out = sqlite3_column_int64(st, i);
    } else if (type == SQLITE_FLOAT) {
      out = sqlite3_column_double(st, i);
    } else {
      std::string s = column_text(st, i);
      if (col.kind == Kind::Dict || (col.kind == Kind::JsonText && !s.empty() && s[0] == '{')) {
        out = Json::parse(s, nullptr, false);
        if (out.is_discarded()) out = std::move(s);
      } else {
        out = std::move(s);
      }
    }
  }
  return rec;
}

std::string python_set_repr(const std::vector<std::string>& names) {
  std::string s = "{";
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i) s += ", ";
    s += python_repr(names[i]);
  }
  return s + "}";
}

// One SQL pre-filter term for (column, op, value), or "" when SQL cannot decide it exactly
// enough (the matcher checks every row anyway, so a term may only ever drop true non-matches).
std::string sql_term(const Column& col, const std::string& op, const Json& v,
                     std::vector<std::pair<Json, Kind>>& args) {
  if (col.kind != Kind::Text && col.kind != Kind::Timestamp) return {};
  const std::string name = sql_ident(col.name);
  auto scalar = [](const Json& j) { return j.is_string() || j.is_number() || j.is_boolean(); };
  if (op == "$eq") {
    if (v.is_null()) return name + " IS NULL";
    if (!v.is_string()) return {};
    args.emplace_back(v, col.kind);
    return name + " = ?";
  }
  if (op == "$ne") {
    if (v.is_null()) return name + " IS NOT NULL";
    if (!v.is_string()) return {};
    args.emplace_back(v, col.kind);
    return "(" + name + " IS NULL OR " + name + " != ?)";
  }
  if (op == "$lt" || op == "$gt" || op == "$lte" || op == "$gte") {
    if (!v.is_string()) return {};
    const char* sym = op == "$lt" ? "<" : op == "$gt" ? ">" : op == "$lte" ? "<=" : ">=";
    args.emplace_back(v, col.kind);
    return name + " " + sym + " ?";
  }
  if (op == "$in" || op == "$nin") {
    if (!v.is_array()) return {};
    bool has_null = false;
    std::vector<Json> vals;
    for (const auto& e : v) {
      if (e.is_null()) {
        has_null = true;
      } else if (e.is_string()) {
        vals.push_back(e);
      } else if (!scalar(e)) {
        return {};
      }
    }
    std::string list;
    for (std::size_t i = 0; i < vals.size(); ++i) {
      list += i ? ",?" : "?";
      args.emplace_back(vals[i], col.kind);
    }
    if (op == "$in") {
      std::string t = vals.empty() ? "0" : name + " IN (" + list + ")";
      if (has_null) t = "(" + t + " OR " + name + " IS NULL)";
      return t;
    }
    std::string t = vals.empty() ? "1" : name + " NOT IN (" + list + ")";
    return has_null ? "(" + name + " IS NOT NULL AND " + t + ")"
                    : "(" + name + " IS NULL OR " + t + ")";
  }
  if (op == "$exists") {
    const bool want = v.is_boolean() ? v.get<bool>() : !v.is_null();
    return name + (want ? " IS NOT NULL" : " IS NULL");
  }
  return {};
}

}  // namespace

SqliteTaskDb::SqliteTaskDb(Options options) : options_(std::move(options)) {
  const std::string file = path();
  if (sqlite3_open(file.c_str(), &db_) != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw std::runtime_error(file + ": cannot open task database: " + msg);
  }
  sqlite3_busy_timeout(db_, 2000);
  (void)exec("PRAGMA synchronous=NORMAL");
  // Find a table with our layout (or no table yet): "<name>", "<name>_1", ...
  table_ = options_.table;
  for (int i = 1;; ++i) {
    sqlite3_stmt* st = prepare("PRAGMA table_info(" + sql_ident(table_) + ")");
    if (!st) throw std::runtime_error(file + ": " + sqlite3_errmsg(db_));
    std::vector<std::pair<std::string, std::string>> cols;
    while (sqlite3_step(st) == SQLITE_ROW) cols.emplace_back(column_text(st, 1), column_text(st, 2));
    sqlite3_finalize(st);
    bool ok = cols.empty() || cols.size() == static_cast<std::size_t>(kColumnCount);
    for (std::size_t c = 0; ok && c < cols.size(); ++c)
      ok = cols[c].first == kColumns[c].name && same_type(cols[c].second, kColumns[c].decl);
    if (ok) break;
    table_ = options_.table + "_" + std::to_string(i);
  }
  std::string ddl = "CREATE TABLE IF NOT EXISTS " + sql_ident(table_) + " (";
  for (int i = 0; i < kColumnCount; ++i) {
    if (i) ddl += ", ";
    ddl += std::string(kColumns[i].name) + " " + kColumns[i].decl;
    if (i == 0) ddl += " PRIMARY KEY";
  }
  ddl += ")";
  if (auto st = exec(ddl); !st)
    throw std::runtime_error(file + ": cannot create table " + table_ + ": " + st.error().evalue);
}

SqliteTaskDb::~SqliteTaskDb() {
  flush();
  for (auto& [sql, st] : stmts_) {
    (void)sql;
    sqlite3_finalize(st);
  }
  sqlite3_close(db_);
}

std::string SqliteTaskDb::path() const {
  if (options_.directory.empty()) return options_.filename;
  return options_.directory + "/" + options_.filename;
}

DbError SqliteTaskDb::sql_error(const char* what) const {
  return DbError{"OperationalError", std::string(what) + ": " + sqlite3_errmsg(db_)};
}

sqlite3_stmt* SqliteTaskDb::prepare(const std::string& sql) {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) return nullptr;
  return st;
}

sqlite3_stmt* SqliteTaskDb::cached(const std::string& sql) {
  auto it = stmts_.find(sql);
  if (it != stmts_.end()) {
    sqlite3_reset(it->second);
    sqlite3_clear_bindings(it->second);
    return it->second;
  }
  sqlite3_stmt* st = prepare(sql);
  if (st) stmts_.emplace(sql, st);
  return st;
}

DbStatus SqliteTaskDb::exec(const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    DbError e{"OperationalError", err ? err : "sqlite error"};
    sqlite3_free(err);
    return e;
  }
  return Ok{};
}

void SqliteTaskDb::begin_write() {
  if (!in_txn_) {
    if (exec("BEGIN")) in_txn_ = true;
  }
  if (++pending_writes_ >= options_.batch_limit) {
    (void)exec("COMMIT");
    in_txn_ = false;
    pending_writes_ = 0;
    if (exec("BEGIN")) in_txn_ = true;
  }
}

void SqliteTaskDb::tick(TimePoint now) {
  if (in_txn_ && now - last_commit_ >= options_.commit_interval) {
    flush();
    last_commit_ = now;
  }
}

void SqliteTaskDb::flush() {
  if (!in_txn_) return;
  (void)exec("COMMIT");
  in_txn_ = false;
  pending_writes_ = 0;
}

DbStatus SqliteTaskDb::write_row(sqlite3_stmt* st, const std::string& msg_id,
                                 const TaskRecord& record) {
  static const Json kNull;
  for (int i = 0; i < kColumnCount; ++i) {
    const Column& col = kColumns[i];
    if (i == 0) {
      sqlite3_bind_text(st, 1, msg_id.data(), static_cast<int>(msg_id.size()), SQLITE_TRANSIENT);
    } else if (col.kind == Kind::Bufs) {
      bind_bufs(st, i + 1, i == 4 ? record.buffers : record.result_buffers);
    } else {
      auto it = record.fields.find(col.name);
      bind_field(st, i + 1, col, it == record.fields.end() ? kNull : *it);
    }
  }
  const int rc = sqlite3_step(st);
  if (rc == SQLITE_CONSTRAINT) return key_error("Already have msg_id '" + msg_id + "'");
  if (rc != SQLITE_DONE) return sql_error("insert");
  return Ok{};
}

DbStatus SqliteTaskDb::add_record(const std::string& msg_id, TaskRecord record) {
  begin_write();
  std::string sql = "INSERT INTO " + sql_ident(table_) + " VALUES (?";
  for (int i = 1; i < kColumnCount; ++i) sql += ",?";
  sql += ")";
  sqlite3_stmt* st = cached(sql);
  if (!st) return sql_error("prepare");
  return write_row(st, msg_id, record);
}

DbStatus SqliteTaskDb::put_record(const std::string& msg_id, const TaskRecord& record) {
  begin_write();
  std::string sql = "INSERT OR REPLACE INTO " + sql_ident(table_) + " VALUES (?";
  for (int i = 1; i < kColumnCount; ++i) sql += ",?";
  sql += ")";
  sqlite3_stmt* st = cached(sql);
  if (!st) return sql_error("prepare");
  return write_row(st, msg_id, record);
}

DbStatus SqliteTaskDb::update_record(const std::string& msg_id, RecordUpdate update) {
  std::vector<std::pair<const Column*, const Json*>> sets;
  for (auto it = update.fields.begin(); it != update.fields.end(); ++it) {
    const Column* col = find_column(it.key());
    if (col && col->kind != Kind::Bufs && std::string_view(col->name) != "msg_id")
      sets.emplace_back(col, &it.value());
  }
  std::sort(sets.begin(), sets.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string sql = "UPDATE " + sql_ident(table_) + " SET ";
  bool first = true;
  for (const auto& [col, v] : sets) {
    (void)v;
    sql += (first ? "" : ", ") + sql_ident(col->name) + " = ?";
    first = false;
  }
  if (update.buffers) {
    sql += std::string(first ? "" : ", ") + "buffers = ?";
    first = false;
  }
  if (update.result_buffers) {
    sql += std::string(first ? "" : ", ") + "result_buffers = ?";
    first = false;
  }
  if (first) return Ok{};
  sql += " WHERE msg_id = ?";
  begin_write();
  sqlite3_stmt* st = cached(sql);
  if (!st) return sql_error("prepare");
  int idx = 1;
  for (const auto& [col, v] : sets) bind_field(st, idx++, *col, *v);
  if (update.buffers) bind_bufs(st, idx++, *update.buffers);
  if (update.result_buffers) bind_bufs(st, idx++, *update.result_buffers);
  sqlite3_bind_text(st, idx, msg_id.data(), static_cast<int>(msg_id.size()), SQLITE_TRANSIENT);
  if (sqlite3_step(st) != SQLITE_DONE) return sql_error("update");
  return Ok{};
}

DbResult<TaskRecord> SqliteTaskDb::get_record(const std::string& msg_id) {
  sqlite3_stmt* st = cached("SELECT * FROM " + sql_ident(table_) + " WHERE msg_id = ?");
  if (!st) return sql_error("prepare");
  sqlite3_bind_text(st, 1, msg_id.data(), static_cast<int>(msg_id.size()), SQLITE_TRANSIENT);
  const int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    TaskRecord rec = read_row(st);
    sqlite3_reset(st);
    return rec;
  }
  sqlite3_reset(st);
  if (rc != SQLITE_DONE) return sql_error("select");
  return key_error("No such msg: '" + msg_id + "'");
}

bool SqliteTaskDb::contains(const std::string& msg_id) {
  sqlite3_stmt* st = cached("SELECT 1 FROM " + sql_ident(table_) + " WHERE msg_id = ?");
  if (!st) return false;
  sqlite3_bind_text(st, 1, msg_id.data(), static_cast<int>(msg_id.size()), SQLITE_TRANSIENT);
  const bool found = sqlite3_step(st) == SQLITE_ROW;
  sqlite3_reset(st);
  return found;
}

DbStatus SqliteTaskDb::drop_record(const std::string& msg_id) {
  begin_write();
  sqlite3_stmt* st = cached("DELETE FROM " + sql_ident(table_) + " WHERE msg_id = ?");
  if (!st) return sql_error("prepare");
  sqlite3_bind_text(st, 1, msg_id.data(), static_cast<int>(msg_id.size()), SQLITE_TRANSIENT);
  if (sqlite3_step(st) != SQLITE_DONE) return sql_error("delete");
  return Ok{};
}

DbResult<std::vector<TaskRecord>> SqliteTaskDb::select(const Json& query) {
  if (auto st = validate_query(query); !st) return st.error();
  std::vector<std::string> illegal;
  std::vector<std::string> terms;
  std::vector<std::pair<Json, Kind>> args;
  for (const auto& [key, test] : query.items()) {
    const Column* col = find_column(key);
    if (!col) {
      illegal.push_back(key);
      continue;
    }
    if (test.is_object()) {
      for (const auto& [op, v] : test.items()) {
        std::string t = sql_term(*col, op, v, args);
        if (!t.empty()) terms.push_back(std::move(t));
      }
    } else {
      std::string t = sql_term(*col, "$eq", test, args);
      if (!t.empty()) terms.push_back(std::move(t));
    }
  }
  if (!illegal.empty()) return key_error("Illegal testing key(s): " + python_set_repr(illegal));
  std::string sql = "SELECT * FROM " + sql_ident(table_);
  for (std::size_t i = 0; i < terms.size(); ++i) sql += (i ? " AND " : " WHERE ") + terms[i];
  sql += " ORDER BY rowid";
  sqlite3_stmt* st = prepare(sql);
  if (!st) return sql_error("prepare");
  for (std::size_t i = 0; i < args.size(); ++i)
    bind_value(st, static_cast<int>(i + 1), args[i].first, args[i].second);
  std::vector<TaskRecord> out;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    TaskRecord rec = read_row(st);
    if (matches(rec.fields, query)) out.push_back(std::move(rec));
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) return sql_error("select");
  return out;
}

DbStatus SqliteTaskDb::drop_matching_records(const Json& query) {
  auto found = select(query);
  if (!found) return found.error();
  for (const auto& rec : *found) {
    auto st = drop_record(rec.fields["msg_id"].get<std::string>());
    if (!st) return st;
  }
  return Ok{};
}

DbResult<std::vector<TaskRecord>> SqliteTaskDb::find_records(const Json& query,
                                                             const KeySelection& keys) {
  auto found = select(query);
  if (!found) return found.error();
  if (keys && !keys->empty())
    for (auto& rec : *found) rec = select_keys(rec, keys);
  return found;
}

DbResult<std::vector<std::string>> SqliteTaskDb::get_history() {
  sqlite3_stmt* st = cached("SELECT msg_id FROM " + sql_ident(table_) +
                            " WHERE submitted IS NOT NULL ORDER BY submitted, rowid");
  if (!st) return sql_error("prepare");
  std::vector<std::string> out;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) out.push_back(column_text(st, 0));
  sqlite3_reset(st);
  if (rc != SQLITE_DONE) return sql_error("select");
  return out;
}

std::size_t SqliteTaskDb::record_count() {
  sqlite3_stmt* st = cached("SELECT COUNT(*) FROM " + sql_ident(table_));
  if (!st) return 0;
  std::size_t n = 0;
  if (sqlite3_step(st) == SQLITE_ROW) n = static_cast<std::size_t>(sqlite3_column_int64(st, 0));
  sqlite3_reset(st);
  return n;
}

}  // namespace ipp::controller::db
