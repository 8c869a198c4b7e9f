#pragma once
// The record query language of DictDB (protocol.md 8.2), shared by every backend so they agree.
//   {field: value}               equality (missing fields are null)
//   {field: {"$op": value, ...}} every operator must pass:
//     $lt $gt $lte $gte $eq $ne   comparisons; $gt is a real "greater than" (DictDB's reversed
//                                 $gt is a bug no client test relies on)
//     $in $nin                    membership in a list (substring for a string)
//     $all                        value "in" every element (DictDB's literal semantics)
//     $mod [d, r]                 value % d == r (Python modulo)
//     $exists bool                non-null / null
//     $glob pattern               shell-style match (fnmatch)
// Strings that both parse as ISO-8601 dates compare as times. Comparisons between mismatched
// types (e.g. null < 3) are false instead of Python's TypeError.
#include "ipp/controller/db/task_db.hpp"

namespace ipp::controller::db {

// KeyError for an unknown operator, as DictDB's filters[key].
DbStatus validate_query(const Json& query);
// The query must have passed validate_query.
bool matches(const Json& record_fields, const Json& query);

// Python ==, with date strings compared as times.
bool values_equal(const Json& a, const Json& b);
// Python <; false for mismatched types.
bool value_less(const Json& a, const Json& b);

}  // namespace ipp::controller::db
