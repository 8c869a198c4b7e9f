// The status page (dashboard.html) compiled into ipcontroller, so an installed controller serves
// it without the source tree.
#include "dashboard.hpp"

// IPP_STATUS_DIR is a string literal (a compile definition of ipp_controller).
__asm__(
    ".pushsection .rodata\n"
    ".global ipp_status_dashboard_begin\n"
    "ipp_status_dashboard_begin:\n"
    ".incbin \"" IPP_STATUS_DIR
    "/dashboard.html\"\n"
    ".global ipp_status_dashboard_end\n"
    "ipp_status_dashboard_end:\n"
    ".byte 0\n"
    ".popsection\n");

extern "C" const char ipp_status_dashboard_begin[];
extern "C" const char ipp_status_dashboard_end[];

namespace ipp::controller::status {

std::string_view dashboard_html() {
  return {ipp_status_dashboard_begin,
          static_cast<std::size_t>(ipp_status_dashboard_end - ipp_status_dashboard_begin)};
}

}  // namespace ipp::controller::status
