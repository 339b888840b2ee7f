// The function table: what a pre-spawned firerunner may load, written by the supervisor
// (supervisor/function_table.h) and read by firerunner (`--functions FILE`). A load command's arg0
// (ControlOp::kRestore / kBoot, channel_layout.h) is an index into it. JSON (nlohmann/json):
//   {"functions": [{"name": "hello", "snapshot_dirs": ["/abs/python3", "/abs/hello"],
//                   "appfs": "/abs/hello.ext2", "copy_base": false, "copy_diff": false}, ...]}
// Every path is absolute (the supervisor resolves them); an empty snapshot_dirs means the function
// boots the runner's --kernel.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace snapfaas::ipc {

/// One function of the table. Plain values.
struct FunctionTableEntry {
  std::string name;
  std::vector<std::string> snapshot_dirs;  ///< base[,diff...]; empty: the function boots the --kernel
  std::string appfs;                       ///< app image (Linux guests), empty for none
  bool copy_base = false;                  ///< default load flags (ipc::kLoadCopyBase/kLoadCopyDiff)
  bool copy_diff = false;

  bool operator==(const FunctionTableEntry&) const = default;
};

/// A runner opens every function's snapshot files and app image at start (it may open nothing
/// after its lock-down), so a table holds at most this many functions.
inline constexpr std::size_t kMaxTableFunctions = 128;

/// The table as JSON text. Throws common::Error past kMaxTableFunctions.
[[nodiscard]] std::string format_function_table(const std::vector<FunctionTableEntry>& table);
/// Parses a table. Throws common::Error "SOURCE: ..." naming the entry and field that is wrong, or
/// past kMaxTableFunctions.
[[nodiscard]] std::vector<FunctionTableEntry> parse_function_table(std::string_view text, const std::string& source);
/// Reads and parses the file `path`. Throws common::Error.
[[nodiscard]] std::vector<FunctionTableEntry> read_function_table(const std::string& path);

}  // namespace snapfaas::ipc
