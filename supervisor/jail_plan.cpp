// The jail plan (see jail_plan.h): made in the parent, where allocating is safe.
#include "supervisor/jail_plan.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <set>

#include "supervisor/jailer.h"

namespace snapfaas::supervisor {
namespace {

namespace fs = std::filesystem;

// Adds every directory from `path` up to (not including) `root` to `dirs`.
void add_with_parents(std::set<std::string>& dirs, const std::string& root, fs::path path) {
  for (; path.string().size() > root.size(); path = path.parent_path()) dirs.insert(path.string());
}

}  // namespace

JailPlan make_jail_plan(const RunnerIdentity& id, const JailSpec& spec, const std::string& root,
                        const std::vector<std::string>& libs, bool with_tun) {
  JailPlan plan;
  plan.root = root;
  plan.hostname = spec.hostname;
  plan.uid_text = std::to_string(id.uid);
  plan.gid_text = std::to_string(id.gid);
  std::set<std::string> dirs;
  // Each host path once, a path under one already bound skipped (visible through its directory):
  // a second bind onto a read-only mount point would fail.
  std::vector<std::string> paths{spec.binary};
  paths.insert(paths.end(), libs.begin(), libs.end());
  paths.insert(paths.end(), spec.read_only.begin(), spec.read_only.end());
  std::sort(paths.begin(), paths.end());
  paths.erase(std::unique(paths.begin(), paths.end()), paths.end());
  std::string last;
  for (const auto& path : paths) {
    if (!last.empty() && path.rfind(last + "/", 0) == 0) continue;
    last = path;
    JailMount mount{path, root + path};
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
      mount.missing_errno = errno;  // the child reports it as before: "jailer: stat PATH: ..."
    } else {
      mount.dir = S_ISDIR(st.st_mode);
    }
    add_with_parents(dirs, root, mount.dir ? fs::path(mount.target) : fs::path(mount.target).parent_path());
    plan.mounts.push_back(std::move(mount));
  }
  plan.null_target = root + "/dev/null";
  add_with_parents(dirs, root, root + "/dev");
  add_with_parents(dirs, root, root + "/proc");
  const auto add_device = [&](const char* host, unsigned major, unsigned minor) {
    JailDevice device{host, root + host, major, minor};
    struct stat st {};
    // Bind-mounted (mknod refused or not wanted): reachable through the node's group when that
    // group may read and write it and others may not (/dev/kvm is root:kvm 0660 on Debian).
    if (::stat(host, &st) == 0 && (st.st_mode & S_IRWXO) != (S_IROTH | S_IWOTH) &&
        (st.st_mode & (S_IRGRP | S_IWGRP)) == (S_IRGRP | S_IWGRP) && st.st_gid != 0) {
      device.bind_group = st.st_gid;
    }
    add_with_parents(dirs, root, fs::path(device.target).parent_path());
    plan.devices.push_back(std::move(device));
  };
  if (::access("/dev/kvm", F_OK) == 0) add_device("/dev/kvm", 10, 232);
  if (with_tun) add_device("/dev/net/tun", 10, 200);
  plan.dirs.assign(dirs.begin(), dirs.end());  // sorted: a parent before its children
  return plan;
}

}  // namespace snapfaas::supervisor
