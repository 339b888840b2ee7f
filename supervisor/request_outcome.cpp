// Request outcomes (see request_outcome.h).
#include "supervisor/request_outcome.h"

namespace snapfaas::supervisor {

std::vector<std::string> outcome_names() {
  std::vector<std::string> names{"ok"};
  for (std::uint32_t t = 1; t <= ipc::kMaxErrorType; ++t) names.emplace_back(ipc::error_type_name(static_cast<ipc::ErrorType>(t)));
  return names;
}

std::uint32_t outcome_index(const RequestRecord& record) noexcept {
  if (record.status == "ok") return 0;
  if (record.error.is_object()) {
    const auto it = record.error.find("type");
    if (it != record.error.end() && it->is_string()) {
      const std::string& name = it->get_ref<const std::string&>();
      if (const std::uint32_t type = ipc::error_type_from_name(name.data(), name.size()); type != 0) return type;
    }
  }
  return static_cast<std::uint32_t>(ipc::ErrorType::kRunnerFailed);
}

}  // namespace snapfaas::supervisor
