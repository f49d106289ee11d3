#pragma once

#include <map>
#include <string>
#include <string_view>

namespace ringlb::op {

/// Variables every runtime defines for a replica, usable as "$(NAME)" in the template's
/// command, args and env: the port and address the replica must listen on, and its slot.
/// The runtime's values win over template env of the same name.
inline constexpr std::string_view kPortVariable = "PORT";
inline constexpr std::string_view kListenAddressVariable = "LISTEN_ADDRESS";
inline constexpr std::string_view kSlotVariable = "RINGLB_SLOT";

/// Expands $(NAME) from `vars` as Kubernetes does: "$$" is a literal "$",
/// unknown names stay as written. Pure.
std::string expandVariables(std::string_view text, const std::map<std::string, std::string>& vars);

}  // namespace ringlb::op
