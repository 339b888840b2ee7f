// ResponseCheck (see response_check.h): a SAX pass that only counts depth.
#include "supervisor/response_check.h"

#include <nlohmann/json.hpp>

namespace snapfaas::supervisor {
namespace {

using json = nlohmann::json;

/// Accepts every value; fails past the depth bound and remembers why parsing stopped.
struct DepthLimit final : json::json_sax_t {
  explicit DepthLimit(std::size_t max) : max_depth(max) {}

  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return enter(); }
  bool key(string_t&) override { return true; }
  bool end_object() override { return leave(); }
  bool start_array(std::size_t) override { return enter(); }
  bool end_array() override { return leave(); }
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception&) override {
    error_at = position;  // the exception's text may quote the offending bytes: not kept
    return false;
  }

  bool enter() {
    if (++depth <= max_depth) return true;
    too_deep = true;
    return false;
  }
  bool leave() {
    --depth;
    return true;
  }

  std::size_t max_depth;
  std::size_t depth = 0;
  bool too_deep = false;
  std::size_t error_at = 0;
};

}  // namespace

std::optional<std::string> response_problem(std::string_view body, std::size_t max_depth) {
  DepthLimit sax(max_depth);
  if (json::sax_parse(body.begin(), body.end(), &sax)) return std::nullopt;
  if (sax.too_deep) return "response nested deeper than " + std::to_string(max_depth) + " levels";
  return "response is not valid JSON text (UTF-8) at byte " + std::to_string(sax.error_at) + " of " +
         std::to_string(body.size());
}

}  // namespace snapfaas::supervisor

namespace snapfaas::supervisor {

std::optional<GuestError> parse_guest_error(std::string_view body, std::string* why) {
  if (auto problem = response_problem(body)) {
    *why = "error " + *problem;
    return std::nullopt;
  }
  const json parsed = json::parse(body, nullptr, false);  // checked above: valid and bounded
  if (!parsed.is_object() || !parsed.contains("error") || !parsed["error"].is_object()) {
    *why = "error response without an 'error' object";
    return std::nullopt;
  }
  const json& error = parsed["error"];
  const auto type = error.find("type");
  const auto message = error.find("message");
  if (type == error.end() || !type->is_string() || message == error.end() || !message->is_string()) {
    *why = "error object without string 'type' and 'message'";
    return std::nullopt;
  }
  const std::string& name = type->get_ref<const std::string&>();
  const std::uint32_t value = ipc::error_type_from_name(name.data(), name.size());
  if (value == 0 || !ipc::guest_may_report(static_cast<ipc::ErrorType>(value))) {
    *why = "error type the guest may not report";
    return std::nullopt;
  }
  GuestError out;
  out.type = static_cast<ipc::ErrorType>(value);
  out.error = error;
  return out;
}

}  // namespace snapfaas::supervisor
