// Test helper: runs a program with arguments, captures stdout/stderr and the exit status.
#pragma once

#include <string>
#include <vector>

namespace snapfaas::test {

struct ProcessResult {
  int status = -1;  ///< exit code, or 128 + signal
  std::string out;
  std::string err;
};

/// fork + execv(argv[0]); waits. Output goes through temporary files (no pipe deadlocks).
ProcessResult run_process(const std::vector<std::string>& argv);

}  // namespace snapfaas::test
