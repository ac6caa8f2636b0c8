#include "nvrtc_compiler.hpp"

#include <algorithm>
#include <chrono>
#include <regex>
#include <sstream>

#include <fmt/format.h>
#include <nvrtc.h>

#include "errors.hpp"

namespace kjit {
namespace {

// Every NVRTC call goes through here: the error names the call.
void check(nvrtcResult result, const char* call) {
  if (result != NVRTC_SUCCESS) {
    throw CompileError(fmt::format("{} failed: {}", call, nvrtcGetErrorString(result)));
  }
}
#define KJIT_NVRTC_CHECK(call) check((call), #call)

// Owns an nvrtcProgram.
class Program {
 public:
  Program(const RenderedSource& rendered) {
    std::vector<const char*> contents, names;
    for (const SourceFile& header : rendered.headers) {
      header_storage_.emplace_back(header.content);
      name_storage_.emplace_back(header.name);
    }
    for (std::size_t i = 0; i < header_storage_.size(); ++i) {
      contents.push_back(header_storage_[i].c_str());
      names.push_back(name_storage_[i].c_str());
    }
    KJIT_NVRTC_CHECK(
        nvrtcCreateProgram(&program_, rendered.source.c_str(), rendered.file_name.c_str(),
                           static_cast<int>(contents.size()), contents.data(), names.data()));
  }
  ~Program() { nvrtcDestroyProgram(&program_); }
  Program(const Program&) = delete;
  Program& operator=(const Program&) = delete;
  nvrtcProgram get() const { return program_; }

  std::string log() const {
    std::size_t size = 0;
    KJIT_NVRTC_CHECK(nvrtcGetProgramLogSize(program_, &size));
    std::string log(size, '\0');
    KJIT_NVRTC_CHECK(nvrtcGetProgramLog(program_, log.data()));
    while (!log.empty() && (log.back() == '\0' || log.back() == '\n')) log.pop_back();
    return log;
  }

 private:
  nvrtcProgram program_ = nullptr;
  // NVRTC wants NUL-terminated strings; the headers are string_views.
  std::vector<std::string> header_storage_, name_storage_;
};

std::string_view content_of(const RenderedSource& rendered, const std::string& file) {
  if (file == rendered.file_name) return rendered.source;
  for (const SourceFile& header : rendered.headers) {
    if (header.name == file) return header.content;
  }
  return {};
}

// For each "file(line): error" in the log, the lines around it with numbers, so the reader
// does not have to reproduce the rendering to see what NVRTC saw.
std::string offending_lines(const RenderedSource& rendered, const std::string& log) {
  static const std::regex kLocation(R"(([^\s()]+)\((\d+)\): (error|catastrophic error))");
  std::string out;
  int shown = 0;
  for (auto it = std::sregex_iterator(log.begin(), log.end(), kLocation);
       it != std::sregex_iterator() && shown < 5; ++it, ++shown) {
    const std::string file = (*it)[1];
    const int line = std::stoi((*it)[2]);
    std::istringstream lines{std::string(content_of(rendered, file))};
    out += fmt::format("\n--- {} around line {} ---\n", file, line);
    std::string text;
    for (int number = 1; std::getline(lines, text); ++number) {
      if (number >= line - 3 && number <= line + 3) {
        out += fmt::format("{}{:5} | {}\n", number == line ? ">" : " ", number, text);
      }
    }
  }
  return out;
}

}  // namespace

std::string nvrtc_version() {
  int major = 0, minor = 0;
  KJIT_NVRTC_CHECK(nvrtcVersion(&major, &minor));
  return fmt::format("{}.{}", major, minor);
}

std::vector<GpuArch> nvrtc_supported_archs() {
  int count = 0;
  KJIT_NVRTC_CHECK(nvrtcGetNumSupportedArchs(&count));
  std::vector<int> numbers(static_cast<std::size_t>(count));
  KJIT_NVRTC_CHECK(nvrtcGetSupportedArchs(numbers.data()));
  std::vector<GpuArch> archs;
  for (int number : numbers) archs.push_back({number / 10, number % 10});
  return archs;
}

std::vector<std::string> compile_options(const GpuArch& arch) {
  return {
      "--gpu-architecture=" + arch.name(),  // sm_XX: NVRTC emits a cubin, no PTX JIT at load
      "-std=c++17",
      "--device-as-default-execution-space",
      // Inline the toolkit's fp16/bf16 definitions instead of NVRTC's prebuilt built-ins, so the
      // embedded headers (hashed into the key) fully define the conversions the kernel uses.
      "-D__FORCE_INCLUDE_CUDA_FP16_HPP_FROM_FP16_H__",
      "-D__FORCE_INCLUDE_CUDA_BF16_HPP_FROM_BF16_H__",
  };
}

Cubin compile(const RenderedSource& rendered, const GpuArch& arch) {
  const auto supported = nvrtc_supported_archs();
  if (std::find(supported.begin(), supported.end(), arch) == supported.end()) {
    std::string names;
    for (const GpuArch& each : supported) names += (names.empty() ? "" : ", ") + each.name();
    throw InvalidArgument(fmt::format("NVRTC {} cannot compile for {}: supported targets are {}",
                                      nvrtc_version(), arch.name(), names));
  }
  const auto start = std::chrono::steady_clock::now();
  Program program(rendered);
  const std::vector<std::string> options = compile_options(arch);
  std::vector<const char*> option_pointers;
  for (const std::string& option : options) option_pointers.push_back(option.c_str());

  const nvrtcResult result = nvrtcCompileProgram(
      program.get(), static_cast<int>(option_pointers.size()), option_pointers.data());
  const std::string log = program.log();
  if (result != NVRTC_SUCCESS) {
    std::string joined;
    for (const std::string& option : options) joined += " " + option;
    throw CompileError(fmt::format("NVRTC failed to compile {} for {}: {}\noptions:{}\nlog:\n{}{}",
                                   rendered.uri, arch.name(), nvrtcGetErrorString(result), joined,
                                   log, offending_lines(rendered, log)));
  }

  Cubin cubin;
  std::size_t size = 0;
  KJIT_NVRTC_CHECK(nvrtcGetCUBINSize(program.get(), &size));
  cubin.bytes.resize(size);
  KJIT_NVRTC_CHECK(nvrtcGetCUBIN(program.get(), cubin.bytes.data()));
  cubin.arch = arch;
  cubin.options = options;
  cubin.log = log;
  cubin.compile_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return cubin;
}

}  // namespace kjit
