// Error types shared by every stage. Each says what was wrong and what is accepted; callers map
// them to exit codes (CLI) or exception types (Python) without parsing messages.
#pragma once

#include <stdexcept>
#include <string>

namespace kjit {

// Base of every error kjit raises.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A bad argument from the caller: unknown dtype name, malformed arch, bad shape.
// Python raises ValueError; the CLI exits 2 (usage).
class InvalidArgument : public Error {
 public:
  using Error::Error;
};

// Why the dispatch guard rejected a signature. Stable values: scripts may switch on them.
enum class GuardCode {
  kOk = 0,
  kUnknownFamily,
  kUnsupportedQueryDType,
  kUnsupportedKVDType,
  kUnsupportedOutputDType,
  kUnsupportedIndexDType,
  kUnsupportedHeadDim,
  kUnsupportedArch,
};

const char* guard_code_name(GuardCode code);

// The guard refused a signature: no kernel exists for it (and none is substituted).
// Python raises NotImplementedError; the CLI exits 3.
class GuardError : public Error {
 public:
  GuardError(GuardCode code, const std::string& message) : Error(message), code_(code) {}
  GuardCode code() const { return code_; }

 private:
  GuardCode code_;
};

// A template could not be rendered (undefined variable, malformed tag).
class TemplateError : public Error {
 public:
  using Error::Error;
};

// NVRTC rejected the rendered source; the message carries URI, options, log and source lines.
class CompileError : public Error {
 public:
  using Error::Error;
};

// A CUDA driver call failed, or there is no driver / device at all.
class CudaError : public Error {
 public:
  using Error::Error;
};

// The cache could not be read or written in a way the caller must hear about.
class CacheError : public Error {
 public:
  explicit CacheError(const std::string& message, bool storage_refused = false)
      : Error(message), storage_refused_(storage_refused) {}
  // The storage itself refused (disk full, read-only, I/O error): retrying will not help, unlike
  // a lock timeout or a constraint error.
  bool storage_refused() const { return storage_refused_; }

 private:
  bool storage_refused_;
};

}  // namespace kjit
