// Where the files a configuration names are: the seed's `file://localhost/...` URLs and plain
// paths (relative ones against the file that names them, or the controller's directory keys),
// the runner binary when the controller names none, and a function's runtime image, app image
// and snapshot layers (a diff under snapshot_dir/NAME, or snapshot_dir/diff/NAME as the seed
// keeps them). Pure path logic, no YAML: config.cpp parses, this resolves.
#pragma once

#include <string>
#include <vector>

#include "supervisor/config.h"

namespace snapfaas::supervisor {

/// A path as a SnapFaaS (seed) file writes it: `file://localhost/abs/path` and `file:///abs/path`
/// become `/abs/path` (percent-escapes decoded); anything without a scheme is returned as it is.
/// Throws common::Error (one line, naming the value) for another scheme, another host, or a URL
/// without an absolute path.
[[nodiscard]] std::string path_from_url(const std::string& value);

/// `path` made absolute against `base_dir` and normalized, trailing '/' dropped; an empty or
/// absolute `path` (or an empty `base_dir`) is only normalized.
[[nodiscard]] std::string absolute_against(const std::string& base_dir, const std::string& path);

/// The runner binary when the controller has no `firerunner_path`: `firerunner` beside `self_exe`
/// (the supervisor's own file: an installed pair), else the build tree's (`../runner/firerunner`
/// from its directory), else the first executable `firerunner` on `path_env` ($PATH). Throws
/// common::Error naming every place looked at.
[[nodiscard]] std::string find_firerunner(const std::string& self_exe, const std::string& path_env);

/// The controller's runner binary: firerunner_path when given, else find_firerunner() for the
/// running process (/proc/self/exe, $PATH).
[[nodiscard]] std::string runner_binary(const ControllerConfig& controller);

/// Function f's runtime image (runtimefs under runtimefs_dir); "" when it names none.
[[nodiscard]] std::string runtimefs_path(const ControllerConfig& controller, const FunctionConfig& f);
/// Function f's app image (appfs under appfs_dir); "" when it names none.
[[nodiscard]] std::string appfs_path(const ControllerConfig& controller, const FunctionConfig& f);

/// f's snapshot layers, base first (empty when f boots): load_dir under snapshot_dir; each diff D
/// under snapshot_dir/D, or snapshot_dir/diff/D when only that one exists (the seed's layout).
[[nodiscard]] std::vector<std::string> snapshot_layers(const ControllerConfig& controller, const FunctionConfig& f);

}  // namespace snapfaas::supervisor
