// ipp_engine_bridge.py compiled into the binary, so an installed ipengine works without the
// source tree. (The source file is still preferred when present; see bridge_search_path.)
#include "bridge_source.hpp"

// IPP_ENGINE_PY_DIR is a string literal (a compile definition of ipp_engine).
__asm__(
    ".pushsection .rodata\n"
    ".global ipp_engine_bridge_py_begin\n"
    "ipp_engine_bridge_py_begin:\n"
    ".incbin \"" IPP_ENGINE_PY_DIR
    "/ipp_engine_bridge.py\"\n"
    ".global ipp_engine_bridge_py_end\n"
    "ipp_engine_bridge_py_end:\n"
    ".byte 0\n"
    ".popsection\n");

extern "C" const char ipp_engine_bridge_py_begin[];
extern "C" const char ipp_engine_bridge_py_end[];

namespace ipp::engine::python {

std::string_view embedded_bridge_source() {
  return {ipp_engine_bridge_py_begin,
          static_cast<std::size_t>(ipp_engine_bridge_py_end - ipp_engine_bridge_py_begin)};
}

}  // namespace ipp::engine::python
