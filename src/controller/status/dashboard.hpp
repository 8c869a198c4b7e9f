#pragma once
#include <string_view>

namespace ipp::controller::status {

// The page served at `/` of the status endpoint: it polls api/status every second.
std::string_view dashboard_html();

}  // namespace ipp::controller::status
