// The status page (dashboard.html) compiled into ipcontroller, so an installed controller serves
// it without the source tree.
#include "dashboard.hpp"

#include <ipp/util/embed_file.hpp>

// IPP_STATUS_DIR is a string literal (a compile definition of ipp_controller).
IPP_EMBED_FILE(ipp_status_dashboard, IPP_STATUS_DIR "/dashboard.html");

namespace ipp::controller::status {

std::string_view dashboard_html() { return IPP_EMBEDDED(ipp_status_dashboard); }

}  // namespace ipp::controller::status
