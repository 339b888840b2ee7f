// JailPlan: everything a jailed runner's child half needs between clone() and execve(), made in
// the parent beforehand. The supervisor is multithreaded (HTTP threads, the stats reader) and a
// runner is started with a raw clone/clone3 (namespaces, CLONE_INTO_CGROUP), which runs no
// pthread_atfork handlers: a malloc or stdio lock another thread held at that instant stays held
// forever in the child. So the child allocates nothing and takes no lock: it walks this plan's
// prepared strings with system calls only (jailer.cpp), and reports a failure with write(2).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace snapfaas::supervisor {

struct JailSpec;
struct RunnerIdentity;

/// One read-only (or, for devices, read-write) bind mount of a host path into the jail.
struct JailMount {
  std::string host;     ///< the host path
  std::string target;   ///< root + host
  bool dir = false;     ///< the mount point is a directory (else an empty file)
  bool read_only = true;
  int missing_errno = 0;  ///< != 0: stat() of `host` failed with it (the child reports it and exits 127)
};

/// A character device the jail gets: a node of its own (mknod) or, when that is refused or not
/// wanted, the host's node bind-mounted (usable through its group when the group may read/write it).
struct JailDevice {
  std::string host;     ///< e.g. /dev/kvm
  std::string target;   ///< root + host
  unsigned major = 0, minor = 0;
  gid_t bind_group = 0;  ///< when bind-mounted: the supplementary group that reaches it (0: none)
};

struct JailPlan {
  std::string root;                 ///< the jail's tmpfs root (a host directory, created by the parent)
  std::vector<std::string> dirs;    ///< directories to create under the tmpfs, parents first
  std::vector<JailMount> mounts;    ///< in order; their mount points' parents are in `dirs`
  std::vector<JailDevice> devices;  ///< /dev/kvm when the host has it, /dev/net/tun with a netns
  std::string null_target;          ///< root + "/dev/null" (bound read-write)
  std::string hostname;
  std::string uid_text, gid_text;   ///< for error lines
};

/// Builds the plan for `spec` in jail directory `root` with `libs` (the binary's ELF libraries);
/// `with_tun`: the runner joins a named network namespace and gets /dev/net/tun. Stats the host
/// paths here (a missing one is recorded, and reported by the child as before).
[[nodiscard]] JailPlan make_jail_plan(const RunnerIdentity& id, const JailSpec& spec, const std::string& root,
                                      const std::vector<std::string>& libs, bool with_tun);

}  // namespace snapfaas::supervisor
