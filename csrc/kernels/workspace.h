// A grow-only, 64-byte-aligned buffer for a kernel's scratch. Kept per calling thread
// (thread_local) and reused across calls: a fresh 58 MB buffer per call cost +50% on the
// GEMM (page faults on every call).
#pragma once

#include <cstddef>
#include <cstdlib>
#include <new>

namespace fastdl {

class Workspace {
 public:
  Workspace() = default;
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  ~Workspace() { std::free(p_); }
  // At least `bytes` bytes (the previous contents are lost when it grows).
  void* get(size_t bytes) {
    if (bytes > cap_) {
      std::free(p_);
      p_ = nullptr;
      cap_ = 0;
      const size_t cap = (bytes + 4095) / 4096 * 4096;
      p_ = std::aligned_alloc(64, cap);
      if (p_ == nullptr) throw std::bad_alloc();
      cap_ = cap;
    }
    return p_;
  }

 private:
  void* p_ = nullptr;
  size_t cap_ = 0;
};

}  // namespace fastdl
