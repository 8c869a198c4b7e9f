#pragma once
// NoTaskDb: ipyparallel's NoDB. Stores nothing; reads fail with NoData so db_request,
// history_request, resubmit_request and full result_request answer errors while execution is
// unaffected. Owning thread: the hub's. Stateless.
#include "ipp/controller/db/task_db.hpp"

namespace ipp::controller::db {

class NoTaskDb final : public TaskDb {
 public:
  std::string_view backend_name() const override { return "NoDB"; }
  std::optional<std::uint64_t> count_records() override { return 0; }
  DbStatus add_record(const std::string&, TaskRecord) override { return Ok{}; }
  DbStatus update_record(const std::string&, RecordUpdate) override { return Ok{}; }
  DbResult<TaskRecord> get_record(const std::string&) override { return no_data(); }
  DbStatus drop_record(const std::string&) override { return Ok{}; }
  DbStatus drop_matching_records(const Json&) override { return Ok{}; }
  DbResult<std::vector<TaskRecord>> find_records(const Json&, const KeySelection& = {}) override {
    return no_data();
  }
  DbResult<std::vector<std::string>> get_history() override { return no_data(); }
};

}  // namespace ipp::controller::db
