# Shared build helpers: dependencies, warning flags, sanitizers, and the target wrappers every
# folder uses (snapfaas_library / snapfaas_executable / snapfaas_test).
find_package(Threads REQUIRED)
find_package(Boost 1.74 REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
find_package(spdlog REQUIRED)
find_package(CLI11 REQUIRED)
find_package(doctest REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(SECCOMP REQUIRED IMPORTED_TARGET libseccomp)

# firerunner is linked static-pie (SNAPFAAS_STATIC_RUNNER) unless the sanitizers are on
# (runner/CMakeLists.txt); libseccomp then comes from libseccomp-dev's static archive for every
# target (one copy of it per binary).
if(SNAPFAAS_STATIC_RUNNER AND NOT SNAPFAAS_SANITIZE)
  set(SNAPFAAS_RUNNER_IS_STATIC ON)
  find_library(SECCOMP_STATIC_LIBRARY NAMES libseccomp.a HINTS ${SECCOMP_LIBRARY_DIRS} REQUIRED)
  add_library(snapfaas_seccomp STATIC IMPORTED)
  set_target_properties(snapfaas_seccomp PROPERTIES IMPORTED_LOCATION ${SECCOMP_STATIC_LIBRARY}
                                                    INTERFACE_INCLUDE_DIRECTORIES "${SECCOMP_INCLUDE_DIRS}")
else()
  set(SNAPFAAS_RUNNER_IS_STATIC OFF)
  add_library(snapfaas_seccomp INTERFACE IMPORTED)
  target_link_libraries(snapfaas_seccomp INTERFACE PkgConfig::SECCOMP)
endif()

# Each function and object in its own section, so that a link with --gc-sections (firerunner)
# drops what nothing reaches: among it the per-object local clones GCC makes of fmt's inline
# float formatting (format_dragon .isra/.constprop, ~11 KiB each) in every object that logs, kept
# before because they shared one .text section with that object's own code.
set(SNAPFAAS_SECTION_FLAGS -ffunction-sections -fdata-sections)

# spdlog as a static library of ours (common/spdlog_static.cpp: Debian ships spdlog and fmt only as
# shared objects), linked by every target instead of spdlog::spdlog so that no binary carries two
# copies of spdlog's registry, and a static firerunner needs no shared object (runner/CMakeLists.txt).
add_library(snapfaas_spdlog STATIC ${PROJECT_SOURCE_DIR}/common/spdlog_static.cpp)
target_compile_definitions(snapfaas_spdlog PUBLIC SPDLOG_COMPILED_LIB SPDLOG_FMT_EXTERNAL PRIVATE FMT_HEADER_ONLY)
target_compile_options(snapfaas_spdlog PRIVATE ${SNAPFAAS_SECTION_FLAGS})
target_link_libraries(snapfaas_spdlog PUBLIC Threads::Threads)

set(SNAPFAAS_WARNINGS -Wall -Wextra -Wshadow -Wnon-virtual-dtor)
if(SNAPFAAS_WERROR)
  list(APPEND SNAPFAAS_WARNINGS -Werror)
endif()
set(SNAPFAAS_SAN_FLAGS -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)

# Flags for host code (never for freestanding guest binaries, which set their own).
function(snapfaas_defaults target)
  target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX,C>:${SNAPFAAS_WARNINGS}>)
  target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX,C>:${SNAPFAAS_SECTION_FLAGS}>)
  target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR})
  if(SNAPFAAS_SANITIZE)
    # -g1 (after the build type's -g): line tables for the sanitizers' reports, a fifth less compile
    # time than full debug information.
    target_compile_options(${target} PRIVATE ${SNAPFAAS_SAN_FLAGS} -g1)
    target_link_options(${target} PUBLIC ${SNAPFAAS_SAN_FLAGS})
  endif()
endfunction()

# snapfaas_library(name SOURCES a.cpp ... LIBS dep ...)
function(snapfaas_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  snapfaas_defaults(${name})
  target_link_libraries(${name} PUBLIC ${ARG_LIBS})
endfunction()

# snapfaas_executable(name SOURCES a.cpp ... LIBS dep ...)
function(snapfaas_executable name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  snapfaas_defaults(${name})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS})
endfunction()

# snapfaas_test(name LABEL unit|integration|e2e SOURCES ... LIBS ... [TIMEOUT s])
# A doctest executable registered with ctest under its label.
function(snapfaas_test name)
  cmake_parse_arguments(ARG "" "LABEL;TIMEOUT" "SOURCES;LIBS" ${ARGN})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  add_executable(${name} ${ARG_SOURCES})
  snapfaas_defaults(${name})
  target_link_libraries(${name} PRIVATE snapfaas_doctest_main ${ARG_LIBS})
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS ${ARG_LABEL} TIMEOUT ${ARG_TIMEOUT})
endfunction()
