// spdlog, compiled into the project as a static library (target snapfaas_spdlog) from the
// implementation headers Debian's libspdlog-dev ships, with the few out-of-line fmt functions it
// calls. Debian ships spdlog and fmt only as shared libraries; a static firerunner (runner/
// CMakeLists.txt) maps no shared object at all (bench density: a runner's RSS, its jail).
// Every other translation unit sees spdlog in compiled-library mode (SPDLOG_COMPILED_LIB) and fmt
// in its normal mode: their out-of-line symbols resolve here. Only the sinks and factories the
// project uses are instantiated: colour stderr (common/log.cpp), plain stderr and the file and
// rotating-file sinks (the supervisor's access and runner logs).
#ifndef SPDLOG_COMPILED_LIB
#error "spdlog_static.cpp needs SPDLOG_COMPILED_LIB (cmake/snapfaas.cmake: snapfaas_spdlog)"
#endif
#ifndef FMT_HEADER_ONLY
#error "spdlog_static.cpp needs FMT_HEADER_ONLY (cmake/snapfaas.cmake: snapfaas_spdlog)"
#endif

#include <fmt/format.h>
#include <spdlog/common-inl.h>
#include <spdlog/details/backtracer-inl.h>
#include <spdlog/details/file_helper-inl.h>
#include <spdlog/details/log_msg-inl.h>
#include <spdlog/details/log_msg_buffer-inl.h>
#include <spdlog/details/os-inl.h>
#include <spdlog/details/periodic_worker-inl.h>
#include <spdlog/details/registry-inl.h>
#include <spdlog/logger-inl.h>
#include <spdlog/pattern_formatter-inl.h>
#include <spdlog/sinks/ansicolor_sink-inl.h>
#include <spdlog/sinks/base_sink-inl.h>
#include <spdlog/sinks/basic_file_sink-inl.h>
#include <spdlog/sinks/rotating_file_sink-inl.h>
#include <spdlog/sinks/sink-inl.h>
#include <spdlog/sinks/stdout_color_sinks-inl.h>
#include <spdlog/sinks/stdout_sinks-inl.h>
#include <spdlog/spdlog-inl.h>

#include <cstdint>
#include <mutex>

// The class and function templates spdlog's own library instantiates for what we use.
template class spdlog::sinks::base_sink<std::mutex>;
template class spdlog::sinks::ansicolor_stderr_sink<spdlog::details::console_mutex>;
template class spdlog::sinks::stderr_sink<spdlog::details::console_mutex>;
template class spdlog::sinks::basic_file_sink<std::mutex>;
template class spdlog::sinks::rotating_file_sink<std::mutex>;
template std::shared_ptr<spdlog::logger> spdlog::stderr_color_mt<spdlog::synchronous_factory>(const std::string&,
                                                                                              spdlog::color_mode);

// fmt: with FMT_HEADER_ONLY its out-of-line functions are inline here; these make the compiler
// emit the ones the rest of the project refers to (locale-dependent formatting, '{:?}' escapes).
template char fmt::detail::decimal_point_impl<char>(fmt::detail::locale_ref);
template fmt::detail::thousands_sep_result<char> fmt::detail::thousands_sep_impl<char>(fmt::detail::locale_ref);
[[maybe_unused]] __attribute__((used)) static bool (*const kIsPrintable)(std::uint32_t) = &fmt::detail::is_printable;
