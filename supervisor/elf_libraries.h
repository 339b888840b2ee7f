// elf_libraries: the files the dynamic loader opens to start a program — its interpreter (PT_INTERP)
// and every DT_NEEDED library, recursively — found the way ld.so finds them when there is no
// /etc/ld.so.cache (as in a runner's jail): the object's DT_RUNPATH (else DT_RPATH), $ORIGIN
// expanded, then the loader's built-in system directories. The jailer bind-mounts exactly these
// paths; no shell, no ldd, nothing executed.
#pragma once

#include <string>
#include <vector>

namespace snapfaas::supervisor {

/// The loader's built-in search directories on x86-64 Debian (multiarch first), in its order.
[[nodiscard]] const std::vector<std::string>& system_library_dirs();

/// Absolute paths of `binary`'s interpreter and libraries (each once; empty for a static
/// executable). Every file is validated as a 64-bit ELF of the binary's machine before it is
/// used, every offset bounds-checked. Throws common::Error naming the file and the problem (a
/// library that is in none of the directories included).
[[nodiscard]] std::vector<std::string> elf_libraries(const std::string& binary,
                                                     const std::vector<std::string>& dirs = system_library_dirs());

}  // namespace snapfaas::supervisor
