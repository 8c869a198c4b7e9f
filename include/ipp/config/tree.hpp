#pragma once
// ConfigTree: traitlets configuration as JSON, {"Class": {"trait": value}}.
//
// An ordered_json, not a json: Python dicts keep insertion order and some settings depend on it
// (SSHEngineSetLauncher.engines hands out engines host by host in the order written, up to
// Cluster.n), so the reader keeps the order of the file.
#include <nlohmann/json.hpp>

namespace ipp::config {

using ConfigTree = nlohmann::ordered_json;

}  // namespace ipp::config
