#pragma once
#include <string_view>

namespace ipp::engine::python {

// The text of ipp_engine_bridge.py as it was when this binary was built.
std::string_view embedded_bridge_source();

}  // namespace ipp::engine::python
