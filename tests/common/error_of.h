// error_of(fn): the common::Error message `fn` throws ("" when it throws none) — for tests that
// check a one-line error's text.
#pragma once

#include <string>

#include "common/error.h"

namespace snapfaas::test {

template <class Fn>
[[nodiscard]] std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const common::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace snapfaas::test
