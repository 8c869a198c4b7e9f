#pragma once
// The blob format of SQLiteDB's `bufs blob` columns: a Python pickle of a list of bytes. Writing
// the same format keeps tasks.db readable by the Python controller and lets us read its files.
// We write protocol 3 (PROTO 3, EMPTY_LIST, MARK, BINBYTES..., APPENDS, STOP); we read what
// pickle.dumps(list_of_bytes, -1) produces for protocols 3-5 (framing, memo opcodes).
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ipp::controller::db {

std::string pickle_buffers(const std::vector<std::string>& buffers);
std::optional<std::vector<std::string>> unpickle_buffers(std::string_view data);

}  // namespace ipp::controller::db
