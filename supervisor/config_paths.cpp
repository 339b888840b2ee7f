// Paths of a configuration (see config_paths.h).
#include "supervisor/config_paths.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string_view>

#include "common/error.h"

namespace snapfaas::supervisor {
namespace {

namespace fs = std::filesystem;

[[nodiscard]] int hex_digit(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

[[nodiscard]] bool is_executable_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec) && ::access(p.c_str(), X_OK) == 0;
}

[[nodiscard]] bool exists(const std::string& p) {
  std::error_code ec;
  return fs::exists(p, ec);
}

}  // namespace

std::string path_from_url(const std::string& value) {
  const std::size_t scheme_end = value.find("://");
  if (scheme_end == std::string::npos) return value;
  const std::string scheme = value.substr(0, scheme_end);
  if (scheme != "file") {
    throw common::Error("'" + value + "': only file:// URLs name files here (scheme '" + scheme + "')");
  }
  const std::string rest = value.substr(scheme_end + 3);
  const std::size_t slash = rest.find('/');
  const std::string host = rest.substr(0, slash);
  if (!host.empty() && host != "localhost") {
    throw common::Error("'" + value + "': only file://localhost/ URLs are understood (host '" + host + "')");
  }
  if (slash == std::string::npos || slash + 1 == rest.size()) {
    throw common::Error("'" + value + "': a file URL needs an absolute path after the host");
  }
  // Percent-escapes, as the seed's URL parser wrote them (e.g. %20 for a space).
  std::string path;
  for (std::size_t i = slash; i < rest.size(); ++i) {
    if (rest[i] == '%') {
      const int hi = i + 2 < rest.size() ? hex_digit(rest[i + 1]) : -1;
      const int lo = i + 2 < rest.size() ? hex_digit(rest[i + 2]) : -1;
      if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
        throw common::Error("'" + value + "': bad percent-escape in a file URL");
      }
      path.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (rest[i] == '?' || rest[i] == '#') {
      throw common::Error("'" + value + "': a file URL with a query or fragment");
    } else {
      path.push_back(rest[i]);
    }
  }
  return path;
}

std::string absolute_against(const std::string& base_dir, const std::string& path) {
  if (path.empty()) return path;
  fs::path p(path);
  if (!p.is_absolute() && !base_dir.empty()) p = fs::path(base_dir) / p;
  std::string out = p.lexically_normal().string();
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

std::string find_firerunner(const std::string& self_exe, const std::string& path_env) {
  std::vector<fs::path> candidates;
  if (!self_exe.empty()) {
    const fs::path dir = fs::path(self_exe).parent_path();
    candidates.push_back(dir / "firerunner");
    candidates.push_back((dir / ".." / "runner" / "firerunner").lexically_normal());
  }
  std::stringstream dirs(path_env);
  for (std::string d; std::getline(dirs, d, ':');) {
    if (!d.empty()) candidates.push_back(fs::path(d) / "firerunner");
  }
  std::string looked;
  for (const fs::path& p : candidates) {
    if (is_executable_file(p)) return fs::absolute(p).lexically_normal().string();
    looked += (looked.empty() ? "" : ", ") + p.string();
  }
  throw common::Error("no firerunner_path in the controller file and no executable firerunner at " +
                      (looked.empty() ? std::string("any place (no $PATH)") : looked) + ": set firerunner_path");
}

std::string runner_binary(const ControllerConfig& controller) {
  if (!controller.firerunner_path.empty()) return controller.firerunner_path;
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  const char* path_env = std::getenv("PATH");
  return find_firerunner(ec ? std::string() : self.string(), path_env != nullptr ? path_env : "");
}

std::string runtimefs_path(const ControllerConfig& controller, const FunctionConfig& f) {
  return absolute_against(controller.runtimefs_dir, f.runtimefs);
}

std::string appfs_path(const ControllerConfig& controller, const FunctionConfig& f) {
  return absolute_against(controller.appfs_dir, f.appfs);
}

std::vector<std::string> snapshot_layers(const ControllerConfig& controller, const FunctionConfig& f) {
  std::vector<std::string> layers;
  if (!f.restores_snapshot()) return layers;
  layers.push_back(absolute_against(controller.snapshot_dir, f.load_dir));
  for (const std::string& d : f.diff_dirs) {
    std::string path = absolute_against(controller.snapshot_dir, d);
    if (!fs::path(d).is_absolute() && !controller.snapshot_dir.empty() && !exists(path)) {
      std::string seed = absolute_against(controller.snapshot_dir + "/diff", d);
      if (exists(seed)) path = std::move(seed);
    }
    layers.push_back(std::move(path));
  }
  return layers;
}

}  // namespace snapfaas::supervisor
