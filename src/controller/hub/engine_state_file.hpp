#pragma once
// The engine-state file (`engines-<cluster>.json` in the profile's security/ dir): the engines
// a controller had, so that `ipcontroller --restore` keeps their ids. The format is Python's
// ({"engines": {"<id>": "<uuid>"}, "next_id": N}), so either controller restores the other's.
#include "engine_registry.hpp"

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace ipp::controller::hub {

std::string dump_engine_state(const EngineState& state);

struct ParsedEngineState {
  EngineState state;
  std::vector<std::string> bad_entries;  // keys skipped (not an int id with a string uuid)
};
// Empty when the text is not a JSON object.
std::optional<ParsedEngineState> parse_engine_state(std::string_view text);

// Atomic rewrite (0644); throws std::exception on failure.
void write_engine_state(const std::filesystem::path& path, const EngineState& state);

}  // namespace ipp::controller::hub
