// ResponseCheck: whether the bytes a guest sent back as a successful response are a JSON value the
// supervisor may pass on. The guest is hostile: invalid UTF-8, garbage or nesting deep enough to
// exhaust the stack of a recursive serializer must become an error result for that request, never
// an exception in the supervisor. Validated with nlohmann/json's SAX parser (no document is built).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace snapfaas::supervisor {

/// Deepest nesting of arrays/objects accepted in a response.
inline constexpr std::size_t kMaxResponseDepth = 512;

/// nullopt when `body` is one JSON value (valid UTF-8) nested at most `max_depth` deep, else a
/// one-line reason that quotes none of the body's bytes.
[[nodiscard]] std::optional<std::string> response_problem(std::string_view body,
                                                          std::size_t max_depth = kMaxResponseDepth);

}  // namespace snapfaas::supervisor
