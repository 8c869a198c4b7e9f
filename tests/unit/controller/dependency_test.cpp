#include "ipp/controller/sched/dependency.hpp"

#include <gtest/gtest.h>

using namespace ipp::controller::sched;
using ipp::wire::Json;

namespace {
Dependency dep(std::vector<std::string> ids, bool all, bool success, bool failure) {
  Dependency d;
  d.ids = std::move(ids);
  d.all = all;
  d.success = success;
  d.failure = failure;
  return d;
}
}  // namespace

TEST(Dependency, ParsesListStringNullAndDict) {
  auto l = Dependency::from_json(Json::parse(R"(["a","b","a"])"));
  ASSERT_TRUE(l);
  EXPECT_EQ(l->ids, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(l->all);
  EXPECT_TRUE(l->success);
  EXPECT_FALSE(l->failure);

  auto s = Dependency::from_json(Json("x"));
  ASSERT_TRUE(s);
  EXPECT_EQ(s->ids, std::vector<std::string>{"x"});

  auto n = Dependency::from_json(Json());
  ASSERT_TRUE(n);
  EXPECT_TRUE(n->empty());

  auto d = Dependency::from_json(Json::parse(
      R"({"dependencies":["m1"],"all":false,"success":false,"failure":true})"));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->ids, std::vector<std::string>{"m1"});
  EXPECT_FALSE(d->all);
  EXPECT_FALSE(d->success);
  EXPECT_TRUE(d->failure);
  EXPECT_EQ(Dependency::from_json(d->to_json())->ids, d->ids);

  auto defaults = Dependency::from_json(Json::parse(R"({"dependencies":["m"]})"));
  ASSERT_TRUE(defaults);
  EXPECT_TRUE(defaults->all && defaults->success && !defaults->failure);
}

TEST(Dependency, RejectsInvalid) {
  EXPECT_FALSE(Dependency::from_json(Json::parse(R"([1,2])")));
  EXPECT_FALSE(Dependency::from_json(
      Json::parse(R"({"dependencies":["a"],"success":false,"failure":false})")));
  EXPECT_FALSE(Dependency::from_json(Json(3)));
}

TEST(Dependency, EmptyIsMetAndNeverUnreachable) {
  Dependency d;
  EXPECT_TRUE(d.met(IdSet{}, IdSet{}));
  EXPECT_FALSE(d.unreachable(IdSet{"a"}, IdSet{"b"}));
}

struct Row {
  bool all, success, failure;
  IdSet completed, failed;
  bool met, unreachable;
};

TEST(Dependency, MetAndUnreachableTable) {
  // deps = {a, b}
  const std::vector<Row> rows = {
      // all, success only
      {true, true, false, {}, {}, false, false},
      {true, true, false, {"a"}, {}, false, false},
      {true, true, false, {"a", "b"}, {}, true, false},
      {true, true, false, {"a"}, {"b"}, false, true},
      // any, success only
      {false, true, false, {"a"}, {}, true, false},
      {false, true, false, {}, {"a"}, false, false},
      {false, true, false, {}, {"a", "b"}, false, true},
      // all, failure only
      {true, false, true, {}, {"a", "b"}, true, false},
      {true, false, true, {"a"}, {}, false, true},
      {true, false, true, {}, {"a"}, false, false},
      // any, failure only
      {false, false, true, {}, {"b"}, true, false},
      {false, false, true, {"a", "b"}, {}, false, true},
      {false, false, true, {"a"}, {}, false, false},
      // success and failure both accepted: never unreachable
      {true, true, true, {"a"}, {"b"}, true, false},
      {true, true, true, {"a"}, {}, false, false},
      {false, true, true, {}, {"b"}, true, false},
  };
  int i = 0;
  for (const auto& r : rows) {
    auto d = dep({"a", "b"}, r.all, r.success, r.failure);
    EXPECT_EQ(d.met(r.completed, r.failed), r.met) << "row " << i;
    EXPECT_EQ(d.unreachable(r.completed, r.failed), r.unreachable) << "row " << i;
    ++i;
  }
}
