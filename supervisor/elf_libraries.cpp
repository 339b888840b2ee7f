// elf_libraries: PT_INTERP, DT_NEEDED and DT_RUNPATH/DT_RPATH read from the ELF files themselves
// (see elf_libraries.h). Every value read from a file is checked against the file's size first.
#include "supervisor/elf_libraries.h"

#include <elf.h>

#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include "common/error.h"

namespace snapfaas::supervisor {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kMaxElfBytes = 512u << 20;  // no program or library here is bigger

struct ElfInfo {
  std::uint16_t machine = 0;
  std::string interpreter;
  std::vector<std::string> needed;
  std::vector<std::string> search;  // DT_RUNPATH, else DT_RPATH (':'-separated entries)
};

[[noreturn]] void bad(const std::string& path, const std::string& what) {
  throw common::Error("jailer: " + path + ": " + what);
}

std::vector<std::uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) bad(path, "cannot open");
  const std::streamoff size = in.tellg();
  if (size < static_cast<std::streamoff>(sizeof(Elf64_Ehdr)) || static_cast<std::size_t>(size) > kMaxElfBytes) {
    bad(path, "not an ELF file of a plausible size");
  }
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(size));
  in.seekg(0);
  if (!in.read(reinterpret_cast<char*>(bytes.data()), size)) bad(path, "read failed");
  return bytes;
}

// A trivially copyable T at `offset`, if [offset, offset + sizeof(T)) lies inside `bytes`.
template <typename T>
std::optional<T> at(const std::vector<std::uint8_t>& bytes, std::uint64_t offset) {
  if (offset > bytes.size() || bytes.size() - offset < sizeof(T)) return std::nullopt;
  T value;
  std::memcpy(&value, bytes.data() + offset, sizeof(T));
  return value;
}

// The NUL-terminated string at `offset`, inside `bytes`.
std::optional<std::string> string_at(const std::vector<std::uint8_t>& bytes, std::uint64_t offset) {
  if (offset >= bytes.size()) return std::nullopt;
  const auto* begin = bytes.data() + offset;
  const auto* end = static_cast<const std::uint8_t*>(std::memchr(begin, 0, bytes.size() - offset));
  if (end == nullptr) return std::nullopt;
  return std::string(reinterpret_cast<const char*>(begin), static_cast<std::size_t>(end - begin));
}

ElfInfo parse(const std::string& path) {
  const std::vector<std::uint8_t> b = read_file(path);
  const auto eh = at<Elf64_Ehdr>(b, 0);
  if (!eh || std::memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
      eh->e_ident[EI_DATA] != ELFDATA2LSB || eh->e_phentsize != sizeof(Elf64_Phdr)) {
    bad(path, "not a 64-bit little-endian ELF file");
  }
  ElfInfo info;
  info.machine = eh->e_machine;
  std::vector<Elf64_Phdr> loads;
  std::optional<Elf64_Phdr> dynamic;
  for (std::uint16_t i = 0; i < eh->e_phnum; ++i) {
    const auto ph = at<Elf64_Phdr>(b, eh->e_phoff + std::uint64_t{i} * sizeof(Elf64_Phdr));
    if (!ph) bad(path, "program header table outside the file");
    if (ph->p_type == PT_LOAD) loads.push_back(*ph);
    if (ph->p_type == PT_DYNAMIC) dynamic = *ph;
    if (ph->p_type == PT_INTERP) {
      const auto interp = string_at(b, ph->p_offset);
      if (!interp || interp->empty() || interp->front() != '/') bad(path, "bad PT_INTERP");
      info.interpreter = *interp;
    }
  }
  if (!dynamic) return info;  // statically linked
  // DT_STRTAB is a virtual address: find the file offset through the PT_LOAD that maps it.
  auto file_offset = [&](std::uint64_t vaddr) -> std::uint64_t {
    for (const Elf64_Phdr& l : loads) {
      if (vaddr >= l.p_vaddr && vaddr - l.p_vaddr < l.p_filesz) return l.p_offset + (vaddr - l.p_vaddr);
    }
    bad(path, "DT_STRTAB outside every PT_LOAD segment");
  };
  std::vector<std::uint64_t> needed, runpath, rpath;
  std::optional<std::uint64_t> strtab;
  for (std::uint64_t off = dynamic->p_offset; off + sizeof(Elf64_Dyn) <= dynamic->p_offset + dynamic->p_filesz;
       off += sizeof(Elf64_Dyn)) {
    const auto d = at<Elf64_Dyn>(b, off);
    if (!d) bad(path, "PT_DYNAMIC outside the file");
    if (d->d_tag == DT_NULL) break;
    if (d->d_tag == DT_NEEDED) needed.push_back(d->d_un.d_val);
    if (d->d_tag == DT_RUNPATH) runpath.push_back(d->d_un.d_val);
    if (d->d_tag == DT_RPATH) rpath.push_back(d->d_un.d_val);
    if (d->d_tag == DT_STRTAB) strtab = file_offset(d->d_un.d_ptr);
  }
  if (!strtab) {
    if (needed.empty()) return info;
    bad(path, "DT_NEEDED without DT_STRTAB");
  }
  auto str = [&](std::uint64_t index) {
    const auto s = string_at(b, *strtab + index);
    if (!s) bad(path, "dynamic string outside the file");
    return *s;
  };
  for (std::uint64_t n : needed) {
    const std::string name = str(n);
    if (name.empty() || name.find('/') != std::string::npos) bad(path, "unsupported DT_NEEDED '" + name + "'");
    info.needed.push_back(name);
  }
  // DT_RUNPATH wins over DT_RPATH (ld.so(8)); $ORIGIN is the object's own directory.
  const std::string origin = fs::path(path).parent_path().string();
  for (std::uint64_t p : runpath.empty() ? rpath : runpath) {
    std::stringstream entries(str(p));
    for (std::string dir; std::getline(entries, dir, ':');) {
      for (auto pos = dir.find("$ORIGIN"); pos != std::string::npos; pos = dir.find("$ORIGIN")) dir.replace(pos, 7, origin);
      if (!dir.empty() && dir.front() == '/') info.search.push_back(dir);
    }
  }
  return info;
}

}  // namespace

const std::vector<std::string>& system_library_dirs() {
  static const std::vector<std::string> dirs = {"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
                                                "/lib64",                "/usr/lib64",
                                                "/lib",                  "/usr/lib"};
  return dirs;
}

std::vector<std::string> elf_libraries(const std::string& binary, const std::vector<std::string>& dirs) {
  const ElfInfo top = parse(binary);
  std::vector<std::string> out;
  if (!top.interpreter.empty()) out.push_back(top.interpreter);
  // The interpreter is loaded under its own soname: a DT_NEEDED of that name (libc's) is it.
  std::set<std::string> seen;
  if (!top.interpreter.empty()) seen.insert(fs::path(top.interpreter).filename().string());
  std::deque<std::pair<std::string, ElfInfo>> todo{{binary, top}};
  while (!todo.empty()) {
    const auto [who, info] = std::move(todo.front());
    todo.pop_front();
    for (const std::string& name : info.needed) {
      if (!seen.insert(name).second) continue;
      std::vector<std::string> search = info.search;
      search.insert(search.end(), dirs.begin(), dirs.end());
      std::optional<std::string> found;
      for (const std::string& dir : search) {
        const std::string candidate = dir + "/" + name;
        std::error_code ec;
        if (!fs::is_regular_file(candidate, ec)) continue;
        ElfInfo lib = parse(candidate);
        if (lib.machine != top.machine) continue;  // another architecture's copy: the loader skips it too
        found = candidate;
        todo.emplace_back(candidate, std::move(lib));
        break;
      }
      if (!found) throw common::Error("jailer: " + name + " (needed by " + who + ") is in none of the loader's directories");
      out.push_back(*found);
    }
  }
  return out;
}

}  // namespace snapfaas::supervisor
