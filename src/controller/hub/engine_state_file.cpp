#include "engine_state_file.hpp"

#include <ipp/config/connection_info.hpp>
#include <ipp/wire/message.hpp>

namespace ipp::controller::hub {

using wire::Json;

std::string dump_engine_state(const EngineState& state) {
  Json engines = Json::object();
  for (const auto& [id, uuid] : state.engines) engines[std::to_string(id)] = uuid;
  return Json{{"engines", engines}, {"next_id", state.next_id}}.dump();
}

std::optional<ParsedEngineState> parse_engine_state(std::string_view text) {
  Json j = Json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  ParsedEngineState out;
  const Json saved = j.value("engines", Json::object());
  if (saved.is_object()) {
    for (const auto& [key, value] : saved.items()) {
      try {
        std::size_t used = 0;
        const int id = std::stoi(key, &used);
        if (used != key.size() || id < 0 || !value.is_string()) throw std::invalid_argument(key);
        out.state.engines[id] = value.get<std::string>();
      } catch (const std::exception&) {
        out.bad_entries.push_back(key);
      }
    }
  }
  if (auto n = j.find("next_id"); n != j.end() && n->is_number_integer()) {
    out.state.next_id = n->get<int>();
  }
  return out;
}

void write_engine_state(const std::filesystem::path& path, const EngineState& state) {
  using std::filesystem::perms;
  config::write_file_atomic(path, dump_engine_state(state),
                            perms::owner_read | perms::owner_write | perms::group_read |
                                perms::others_read);
}

}  // namespace ipp::controller::hub
