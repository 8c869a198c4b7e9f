// ipp_engine_bridge.py compiled into the binary, so an installed ipengine works without the
// source tree. (The source file is still preferred when present; see bridge_search_path.)
#include "bridge_source.hpp"

#include <ipp/util/embed_file.hpp>

// IPP_ENGINE_PY_DIR is a string literal (a compile definition of ipp_engine).
IPP_EMBED_FILE(ipp_engine_bridge_py, IPP_ENGINE_PY_DIR "/ipp_engine_bridge.py");

namespace ipp::engine::python {

std::string_view embedded_bridge_source() { return IPP_EMBEDDED(ipp_engine_bridge_py); }

}  // namespace ipp::engine::python
