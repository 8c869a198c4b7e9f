#include "ipp/controller/db/memory_task_db.hpp"
#include "ipp/controller/db/no_task_db.hpp"
#include "ipp/controller/db/query.hpp"
#include "ipp/controller/db/sqlite_task_db.hpp"
#include "ipp/controller/db/tiered_task_db.hpp"
#include "controller/db/pickle_buffers.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <set>

using namespace ipp::controller::db;
namespace fs = std::filesystem;

namespace {

// "2024-01-01T00:00:<sec>.<usec>Z"
std::string date(int i) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "2024-01-01T%02d:%02d:%02d.%06dZ", i / 3600 % 24, i / 60 % 60,
                i % 60, (i * 7) % 1000000);
  return buf;
}

// Shaped like hub.init_record.
TaskRecord record(const std::string& id, int i, std::size_t buf_size = 10) {
  TaskRecord r;
  r.fields = Json::parse(R"({"header":{"msg_type":"apply_request"},"metadata":{},
    "content":{"a":5},"client_uuid":"client","engine_uuid":null,"started":null,
    "completed":null,"resubmitted":null,"received":null,"result_header":null,
    "result_metadata":null,"result_content":null,"queue":"task","execute_input":null,
    "execute_result":null,"error":null,"stdout":"","stderr":"","label":null})");
  r.fields["msg_id"] = id;
  r.fields["header"]["msg_id"] = id;
  r.fields["submitted"] = date(i);
  r.fields["n"] = i;  // extra field: memory backend only
  r.buffers = {std::string(buf_size, static_cast<char>('a' + i % 26))};
  return r;
}

RecordUpdate upd(Json f) {
  RecordUpdate u;
  u.fields = std::move(f);
  return u;
}

std::string id(int i) { return "msg-" + std::to_string(i); }

std::set<std::string> ids_of(const std::vector<TaskRecord>& recs) {
  std::set<std::string> s;
  for (const auto& r : recs) s.insert(r.fields.at("msg_id").get<std::string>());
  return s;
}

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() /
           ("ipp-db-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  static int& counter() {
    static int c = 0;
    return c;
  }
};

using Factory = std::function<std::unique_ptr<TaskDb>(const fs::path&)>;

struct Backend {
  std::string name;
  Factory make;
  bool schema_only;  // rejects fields outside protocol.md 8.1 in queries
};

class TaskDbContract : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    db_ = GetParam().make(dir_.path);
    for (int i = 0; i < 16; ++i) ASSERT_TRUE(db_->add_record(id(i), record(id(i), i)));
  }
  TempDir dir_;
  std::unique_ptr<TaskDb> db_;
};

}  // namespace

TEST_P(TaskDbContract, AddGetDropAndHistoryOrder) {
  auto hist = db_->get_history();
  ASSERT_TRUE(hist);
  ASSERT_EQ(hist->size(), 16u);
  for (int i = 0; i < 16; ++i) EXPECT_EQ((*hist)[i], id(i));
  // Out-of-order submission dates still come back in time order.
  ASSERT_TRUE(db_->add_record("early", record("early", 0)));
  ASSERT_TRUE(db_->update_record("early", upd({{"submitted", "2023-12-31T23:59:59Z"}})));
  hist = db_->get_history();
  EXPECT_EQ(hist->front(), "early");

  auto dup = db_->add_record(id(3), record(id(3), 3));
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().ename, "KeyError");

  auto rec = db_->get_record(id(5));
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->fields["content"]["a"], 5);
  EXPECT_EQ(rec->buffers, record(id(5), 5).buffers);
  ASSERT_TRUE(db_->drop_record(id(5)));
  auto gone = db_->get_record(id(5));
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().ename, "KeyError");
}

TEST_P(TaskDbContract, UpdateMergesAndReplacesBuffers) {
  RecordUpdate u;
  u.fields = {{"stdout", "hello there"}, {"completed", date(100)},
              {"result_content", {{"status", "ok"}}}};
  u.result_buffers = Buffers{std::string("\0\1\2", 3), "second"};
  ASSERT_TRUE(db_->update_record(id(2), u));
  auto rec = db_->get_record(id(2));
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->fields["stdout"], "hello there");
  EXPECT_EQ(rec->fields["completed"], date(100));
  EXPECT_EQ(rec->fields["result_content"]["status"], "ok");
  EXPECT_EQ(rec->fields["client_uuid"], "client");  // untouched fields kept
  EXPECT_EQ(rec->result_buffers, (Buffers{std::string("\0\1\2", 3), "second"}));
  EXPECT_EQ(rec->buffers, record(id(2), 2).buffers);
}

TEST_P(TaskDbContract, ComparisonOperatorsOnDates) {
  const Json tic = date(8);
  auto before = db_->find_records({{"submitted", {{"$lt", tic}}}});
  auto after = db_->find_records({{"submitted", {{"$gte", tic}}}});
  ASSERT_TRUE(before && after);
  EXPECT_EQ(before->size(), 8u);
  EXPECT_EQ(after->size(), 8u);
  auto gt = db_->find_records({{"submitted", {{"$gt", tic}}}});
  EXPECT_EQ(gt->size(), 7u);  // a real "greater than"
  auto lte = db_->find_records({{"submitted", {{"$lte", tic}}}});
  EXPECT_EQ(lte->size(), 9u);
  auto same = db_->find_records({{"submitted", tic}});
  EXPECT_EQ(ids_of(*same), std::set<std::string>{id(8)});
  // The same instant written with another zone spelling still matches.
  auto other = db_->find_records({{"submitted", {{"$eq", "2024-01-01T00:00:08.000056+00:00"}}}});
  EXPECT_EQ(ids_of(*other), std::set<std::string>{id(8)});
  auto range = db_->find_records({{"submitted", {{"$gt", date(2)}, {"$lt", date(5)}}}});
  EXPECT_EQ(ids_of(*range), (std::set<std::string>{id(3), id(4)}));
}

TEST_P(TaskDbContract, EqualityNullAndNe) {
  EXPECT_EQ(db_->find_records({{"msg_id", nullptr}})->size(), 0u);
  EXPECT_EQ(db_->find_records({{"msg_id", {{"$ne", nullptr}}}})->size(), 16u);
  EXPECT_EQ(db_->find_records({{"completed", nullptr}})->size(), 16u);
  ASSERT_TRUE(db_->update_record(id(1), upd({{"engine_uuid", "e1"}})));
  EXPECT_EQ(db_->find_records({{"engine_uuid", "e1"}})->size(), 1u);
  // $ne keeps records whose field is null (Python: None != 'e1').
  EXPECT_EQ(db_->find_records({{"engine_uuid", {{"$ne", "e1"}}}})->size(), 15u);
  EXPECT_EQ(db_->find_records({{"engine_uuid", {{"$exists", true}}}})->size(), 1u);
  EXPECT_EQ(db_->find_records({{"engine_uuid", {{"$exists", false}}}})->size(), 15u);
}

TEST_P(TaskDbContract, InNinGlob) {
  Json even = Json::array(), odd = Json::array();
  for (int i = 0; i < 16; ++i) (i % 2 ? odd : even).push_back(id(i));
  auto in = db_->find_records({{"msg_id", {{"$in", even}}}});
  auto nin = db_->find_records({{"msg_id", {{"$nin", even}}}});
  std::set<std::string> e, o;
  for (const auto& x : even) e.insert(x.get<std::string>());
  for (const auto& x : odd) o.insert(x.get<std::string>());
  EXPECT_EQ(ids_of(*in), e);
  EXPECT_EQ(ids_of(*nin), o);
  auto glob = db_->find_records({{"msg_id", {{"$glob", "msg-1?"}}}});
  EXPECT_EQ(glob->size(), 6u);  // msg-10 .. msg-15
  auto glob2 = db_->find_records({{"msg_id", {{"$glob", "*-[12]"}}}});
  EXPECT_EQ(ids_of(*glob2), (std::set<std::string>{id(1), id(2)}));
}

TEST_P(TaskDbContract, KeysSelection) {
  auto found = db_->find_records({{"msg_id", {{"$ne", ""}}}},
                                 std::vector<std::string>{"submitted", "completed"});
  ASSERT_TRUE(found);
  ASSERT_EQ(found->size(), 16u);
  for (const auto& r : *found) {
    std::set<std::string> keys;
    for (auto it = r.fields.begin(); it != r.fields.end(); ++it) keys.insert(it.key());
    EXPECT_EQ(keys, (std::set<std::string>{"msg_id", "submitted", "completed"}));
    EXPECT_TRUE(r.buffers.empty());
  }
  auto with_bufs =
      db_->find_records({{"msg_id", id(3)}}, std::vector<std::string>{"buffers", "header"});
  ASSERT_EQ(with_bufs->size(), 1u);
  EXPECT_EQ((*with_bufs)[0].buffers, record(id(3), 3).buffers);
  EXPECT_EQ((*with_bufs)[0].fields["header"]["msg_id"], id(3));
  EXPECT_EQ((*with_bufs)[0].fields["msg_id"], id(3));
  auto whole = db_->find_records({{"msg_id", id(3)}});
  EXPECT_EQ((*whole)[0].buffers, record(id(3), 3).buffers);
  EXPECT_EQ((*whole)[0].fields["client_uuid"], "client");
}

TEST_P(TaskDbContract, ResultsAreCopies) {
  auto rec = db_->get_record(id(4));
  rec->fields["header"]["msg_id"] = "fubar";
  rec->buffers.clear();
  auto again = db_->get_record(id(4));
  EXPECT_EQ(again->fields["header"]["msg_id"], id(4));
  EXPECT_FALSE(again->buffers.empty());
}

TEST_P(TaskDbContract, PurgeStyleDrops) {
  for (int i : {1, 2, 3})
    ASSERT_TRUE(db_->update_record(id(i), upd({{"completed", date(50 + i)},
                                                        {"engine_uuid", "e0"}})));
  // purge_request "all": every completed record.
  ASSERT_TRUE(db_->drop_matching_records({{"completed", {{"$ne", nullptr}}}}));
  EXPECT_EQ(db_->get_history()->size(), 13u);
  EXPECT_FALSE(db_->get_record(id(2)));
  // By msg_id list.
  ASSERT_TRUE(db_->drop_matching_records({{"msg_id", {{"$in", {id(4), id(5)}}}}}));
  EXPECT_EQ(db_->find_records({{"msg_id", {{"$in", {id(4), id(5)}}}}})->size(), 0u);
  EXPECT_EQ(db_->get_history()->size(), 11u);
}

TEST_P(TaskDbContract, UnknownOperatorIsKeyError) {
  auto r = db_->find_records({{"msg_id", {{"$regex", "x"}}}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().ename, "KeyError");
  EXPECT_EQ(r.error().evalue, "'$regex'");
}

TEST_P(TaskDbContract, ModAndAllAndExtraFields) {
  if (GetParam().schema_only) {
    auto r = db_->find_records({{"n", {{"$mod", {4, 1}}}}});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().ename, "KeyError");
    EXPECT_EQ(r.error().evalue, "\"Illegal testing key(s): {'n'}\"");
    return;
  }
  auto mod = db_->find_records({{"n", {{"$mod", {4, 1}}}}});
  EXPECT_EQ(ids_of(*mod), (std::set<std::string>{id(1), id(5), id(9), id(13)}));
  auto all = db_->find_records({{"msg_id", {{"$all", {"msg-1", "msg-12"}}}}});
  EXPECT_EQ(ids_of(*all), std::set<std::string>{id(1)});  // 'msg-1' in 'msg-1' and 'msg-12'
  EXPECT_EQ(db_->find_records({{"n", {{"$gt", 13}}}})->size(), 2u);
}

// Parts kept as the JSON text they arrived in (the hub's task copies) read back as trees, from
// every read path, and queries see inside them.
TEST_P(TaskDbContract, RawJsonPartsReadBackParsed) {
  TaskRecord r = record("raw", 20);
  r.fields["header"] = raw_json(R"({"msg_id": "raw", "msg_type": "apply_request"})");
  r.fields["content"] = raw_json(R"({"a": 20, "nested": {"b": [1, 2]}})");
  ASSERT_TRUE(is_raw_json(r.fields["header"]));
  ASSERT_TRUE(db_->add_record("raw", r));
  RecordUpdate u;
  u.fields = {{"result_content", raw_json(R"({"status": "ok"})")}, {"completed", date(30)}};
  ASSERT_TRUE(db_->update_record("raw", u));

  auto rec = db_->get_record("raw");
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->fields["header"]["msg_type"], "apply_request");
  EXPECT_EQ(rec->fields["content"]["nested"]["b"][1], 2);
  EXPECT_EQ(rec->fields["result_content"]["status"], "ok");
  for (auto it = rec->fields.begin(); it != rec->fields.end(); ++it) {
    EXPECT_FALSE(it.value().is_binary()) << it.key();
  }

  auto found = db_->find_records(Json{{"msg_id", "raw"}}, KeySelection{{"content", "header"}});
  ASSERT_TRUE(found);
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0].fields["content"]["a"], 20);
  EXPECT_EQ((*found)[0].fields["header"]["msg_id"], "raw");

  ASSERT_TRUE(db_->drop_matching_records(Json{{"msg_id", "raw"}}));
  EXPECT_FALSE(db_->get_record("raw"));
}

INSTANTIATE_TEST_SUITE_P(
    Backends, TaskDbContract,
    ::testing::Values(
        Backend{"Memory",
                [](const fs::path&) -> std::unique_ptr<TaskDb> {
                  return std::make_unique<MemoryTaskDb>();
                },
                false},
        Backend{"Sqlite",
                [](const fs::path& dir) -> std::unique_ptr<TaskDb> {
                  SqliteTaskDb::Options o;
                  o.directory = dir.string();
                  return std::make_unique<SqliteTaskDb>(o);
                },
                true},
        Backend{"Tiered",
                [](const fs::path& dir) -> std::unique_ptr<TaskDb> {
                  TieredTaskDb::Options o;
                  o.sqlite.directory = dir.string();
                  o.cache_records = 5;  // most records live only in SQLite
                  return std::make_unique<TieredTaskDb>(o);
                },
                true}),
    [](const auto& param_info) { return param_info.param.name; });

// ------------------------------------------------------------------------ backend specifics

TEST(QueryMatcher, Basics) {
  Json rec = {{"a", 3}, {"s", "abc"}, {"l", {1, 2}}};
  EXPECT_TRUE(matches(rec, {{"a", 3}}));
  EXPECT_TRUE(matches(rec, {{"a", 3.0}}));
  EXPECT_TRUE(matches(rec, {{"missing", nullptr}}));
  EXPECT_FALSE(matches(rec, {{"missing", {{"$lt", 3}}}}));  // null < 3: no match, no error
  EXPECT_TRUE(matches(rec, {{"a", {{"$in", {1, 3}}}}}));
  EXPECT_TRUE(matches(rec, {{"s", {{"$in", "xxabcxx"}}}}));  // substring, as Python `in`
  EXPECT_TRUE(matches(rec, {{"a", {{"$mod", {-2, -1}}}}}));  // Python: 3 % -2 == -1
  EXPECT_TRUE(matches(rec, {{"a", {{"$gt", 2}, {"$lte", 3}}}}));
  EXPECT_FALSE(matches(rec, {{"a", {{"$gt", 3}}}}));
  EXPECT_TRUE(matches(rec, {{"l", {1, 2}}}));
  EXPECT_TRUE(matches(rec, {{"s", {{"$glob", "a*"}}}}));
  EXPECT_FALSE(matches(rec, {{"s", {{"$glob", "A*"}}}}));
  EXPECT_TRUE(validate_query({{"a", {{"$exists", true}}}}));
  EXPECT_FALSE(validate_query({{"a", {{"$where", 1}}}}));
  EXPECT_EQ(python_repr("Record 'x' has been culled for size"),
            "\"Record 'x' has been culled for size\"");
  EXPECT_EQ(python_repr("plain"), "'plain'");
}

TEST(MemoryTaskDb, CullByCount) {
  MemoryTaskDb db({20, 0.2, std::size_t{1} << 30, 1000});
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(db.add_record(id(i), record(id(i), i)));
  EXPECT_EQ(db.get_history()->size(), 20u);
  ASSERT_TRUE(db.add_record(id(20), record(id(20), 20)));
  EXPECT_EQ(db.get_history()->size(), 17u);  // 21 - 0.2 * 20
  auto culled = db.get_record(id(0));
  ASSERT_FALSE(culled);
  EXPECT_EQ(culled.error().ename, "KeyError");
  EXPECT_EQ(culled.error().evalue, "\"Record 'msg-0' has been culled for size\"");
  EXPECT_FALSE(db.update_record(id(1), upd({{"stdout", "x"}})));
  EXPECT_TRUE(db.culled(id(1)));
  EXPECT_TRUE(db.get_record(id(4)));
  EXPECT_FALSE(db.culled(id(4)));
  EXPECT_FALSE(db.culled("never-seen"));
  for (int i = 21; i < 24; ++i) ASSERT_TRUE(db.add_record(id(i), record(id(i), i)));
  EXPECT_EQ(db.get_history()->size(), 20u);
  ASSERT_TRUE(db.add_record(id(24), record(id(24), 24)));
  EXPECT_EQ(db.get_history()->size(), 17u);
}

TEST(MemoryTaskDb, CullBySizeAndTracksDropsAndUpdates) {
  MemoryTaskDb::Options o;
  o.size_limit = 1000;
  o.cull_fraction = 0.2;
  {
    MemoryTaskDb db(o);
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(db.add_record(id(i), record(id(i), i, 10)));
    ASSERT_TRUE(db.add_record(id(100), record(id(100), 100, 0)));
    EXPECT_EQ(db.get_history()->size(), 101u);
    ASSERT_TRUE(db.add_record(id(101), record(id(101), 101, 1)));
    EXPECT_EQ(db.get_history()->size(), 81u);
  }
  {
    MemoryTaskDb db(o);
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(db.add_record(id(i), record(id(i), i, 10)));
    ASSERT_TRUE(db.drop_record(id(99)));
    EXPECT_EQ(db.buffer_bytes(), 990u);
    ASSERT_TRUE(db.add_record(id(100), record(id(100), 100, 5)));
    ASSERT_TRUE(db.add_record(id(101), record(id(101), 101, 5)));
    EXPECT_EQ(db.get_history()->size(), 101u);
    ASSERT_TRUE(db.add_record(id(102), record(id(102), 102, 1)));
    EXPECT_EQ(db.get_history()->size(), 81u);
  }
  {
    MemoryTaskDb db(o);
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(db.add_record(id(i), record(id(i), i, 10)));
    RecordUpdate u;
    u.buffers = Buffers{};
    u.result_buffers = Buffers{std::string(10, 'x')};
    ASSERT_TRUE(db.update_record(id(99), u));
    EXPECT_EQ(db.get_history()->size(), 100u);
    u.result_buffers = Buffers{std::string(11, 'x')};
    ASSERT_TRUE(db.update_record(id(99), u));
    EXPECT_EQ(db.get_history()->size(), 79u);
  }
}

TEST(MemoryTaskDb, StaysBoundedOver100kRecords) {
  MemoryTaskDb db;
  for (int i = 0; i < 100000; ++i) ASSERT_TRUE(db.add_record(id(i), record(id(i), i, 16)));
  EXPECT_LE(db.record_count(), 1024u);
  EXPECT_GE(db.record_count(), 921u);
  EXPECT_TRUE(db.get_record(id(99999)));
  EXPECT_EQ(db.get_record(id(5)).error().ename, "KeyError");
}

TEST(NoTaskDb, StoresNothing) {
  NoTaskDb db;
  EXPECT_EQ(db.backend_name(), "NoDB");
  EXPECT_TRUE(db.add_record("a", record("a", 1)));
  EXPECT_TRUE(db.update_record("a", RecordUpdate{}));
  auto g = db.get_record("a");
  ASSERT_FALSE(g);
  EXPECT_EQ(g.error().ename, "NoData");
  EXPECT_EQ(g.error().evalue.rfind("NoDB backend doesn't store any data.", 0), 0u);
  EXPECT_FALSE(db.find_records(Json::object()));
  EXPECT_FALSE(db.get_history());
  EXPECT_TRUE(db.drop_matching_records(Json::object()));
}

TEST(PickleBuffers, RoundTripAndPythonFormats) {
  Buffers bufs{"", std::string("\0\xff", 2), std::string(300, 'z')};
  auto back = unpickle_buffers(pickle_buffers(bufs));
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, bufs);
  // pickle.dumps([b'ab', b'c'], -1) from Python 3.11 (protocol 5, framed, memoized).
  const std::string py5("\x80\x05\x95\x0e\x00\x00\x00\x00\x00\x00\x00]\x94(C\x02" "ab\x94"
                        "C\x01" "c\x94" "e.", 25);
  auto p5 = unpickle_buffers(py5);
  ASSERT_TRUE(p5);
  EXPECT_EQ(*p5, (Buffers{"ab", "c"}));
  // pickle.dumps([b'x'], -1): a single APPEND.
  const std::string one("\x80\x05\x95\x08\x00\x00\x00\x00\x00\x00\x00]\x94" "C\x01x\x94" "a.",
                        19);
  EXPECT_EQ(*unpickle_buffers(one), Buffers{"x"});
  EXPECT_FALSE(unpickle_buffers("garbage"));
}

TEST(SqliteTaskDb, PersistsAcrossReopenWithBuffers) {
  TempDir dir;
  SqliteTaskDb::Options o;
  o.directory = dir.path.string();
  {
    SqliteTaskDb db(o);
    EXPECT_EQ(db.table(), "ipython-tasks");
    TaskRecord r = record("m1", 1);
    r.buffers = {std::string("\0bin\0", 5), std::string(100000, 'q')};
    ASSERT_TRUE(db.add_record("m1", r));
    RecordUpdate u;
    u.fields = {{"execute_result", {{"data", {{"text/plain", "4"}}}}},
                {"result_header", {{"msg_id", "r1"}}},
                {"completed", "2024-01-01T00:00:05.5+01:00"},
                {"display_data", {{"x", 1}}}};  // outside the schema: dropped
    u.result_buffers = Buffers{"res"};
    ASSERT_TRUE(db.update_record("m1", u));
    db.tick(ipp::TimePoint{} + std::chrono::seconds(10));
  }
  EXPECT_TRUE(fs::exists(dir.path / "tasks.db"));
  SqliteTaskDb db(o);
  auto rec = db.get_record("m1");
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->buffers.size(), 2u);
  EXPECT_EQ(rec->buffers[0], std::string("\0bin\0", 5));
  EXPECT_EQ(rec->buffers[1].size(), 100000u);
  EXPECT_EQ(rec->result_buffers, Buffers{"res"});
  EXPECT_EQ(rec->fields["execute_result"]["data"]["text/plain"], "4");
  EXPECT_EQ(rec->fields["result_header"]["msg_id"], "r1");
  EXPECT_EQ(rec->fields["completed"], "2023-12-31T23:00:05.500000Z");  // normalised to UTC
  EXPECT_EQ(rec->fields["header"]["msg_type"], "apply_request");
  EXPECT_TRUE(rec->fields["started"].is_null());
  EXPECT_FALSE(rec->fields.contains("display_data"));
  auto missing = db.get_record("nope");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().evalue, "\"No such msg: 'nope'\"");
}

TEST(SqliteTaskDb, OtherLayoutGetsNewTable) {
  TempDir dir;
  {
    SqliteTaskDb::Options o;
    o.directory = dir.path.string();
    o.table = "t";
    SqliteTaskDb db(o);
    ASSERT_TRUE(db.add_record("a", record("a", 1)));
  }
  // A foreign table with the default name.
  {
    SqliteTaskDb::Options o;
    o.directory = dir.path.string();
    o.table = "other";
    SqliteTaskDb db(o);
  }
  SqliteTaskDb::Options o;
  o.directory = dir.path.string();
  o.table = "t";
  SqliteTaskDb same(o);
  EXPECT_EQ(same.table(), "t");
  EXPECT_TRUE(same.get_record("a"));
}

TEST(TieredTaskDb, BoundedMemoryOldRecordsQueryable) {
  TempDir dir;
  TieredTaskDb::Options o;
  o.sqlite.directory = dir.path.string();
  o.cache_records = 1000;
  TieredTaskDb db(o);
  const int n = 100000;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) {
    ASSERT_TRUE(db.add_record(id(i), record(id(i), i, 32)));
    RecordUpdate u;
    u.fields = {{"completed", date(i + 1)}, {"engine_uuid", "e" + std::to_string(i % 4)}};
    u.result_buffers = Buffers{"r" + std::to_string(i)};
    ASSERT_TRUE(db.update_record(id(i), u));
    ASSERT_LE(db.cached_records(), 1000u);
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("[ rate     ] tiered db: %d add+update pairs in %.2f s = %.0f records/s\n", n, secs,
              n / secs);
  EXPECT_LE(db.cached_records(), 1000u);
  auto old = db.get_record(id(7));
  ASSERT_TRUE(old);
  EXPECT_EQ(old->fields["engine_uuid"], "e3");
  EXPECT_EQ(old->result_buffers, Buffers{"r7"});
  EXPECT_EQ(old->buffers, record(id(7), 7, 32).buffers);
  auto recent = db.get_record(id(n - 1));
  ASSERT_TRUE(recent);
  auto by_engine = db.find_records({{"engine_uuid", "e1"}}, std::vector<std::string>{"msg_id"});
  ASSERT_TRUE(by_engine);
  EXPECT_EQ(by_engine->size(), static_cast<std::size_t>(n / 4));
  auto hist = db.get_history();
  ASSERT_TRUE(hist);
  EXPECT_EQ(hist->size(), static_cast<std::size_t>(n));
  EXPECT_EQ(hist->front(), id(0));
  EXPECT_EQ(db.backing().record_count(), static_cast<std::size_t>(n));
  // Updating a record that left the cache goes to SQLite.
  ASSERT_TRUE(db.update_record(id(3), upd({{"stdout", "late"}})));
  EXPECT_EQ(db.get_record(id(3))->fields["stdout"], "late");
}
