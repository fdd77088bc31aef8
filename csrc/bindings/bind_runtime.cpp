// Threads, build information and the instruction set in use.
#include <string>

#include <pybind11/stl.h>

#include "bindings/arrays.h"
#include "kernels/dispatch.h"
#include "kernels/gemm.h"
#include "kernels/threads.h"

#ifndef FASTDL_COMPILER
#define FASTDL_COMPILER "unknown"
#endif
#ifndef FASTDL_NATIVE_BUILD
#define FASTDL_NATIVE_BUILD 0
#endif

namespace fastdl::bind {

void register_runtime(py::module_& m) {
  m.def("set_num_threads", [](int n) {
    if (n < 1) throw py::value_error("set_num_threads: n must be >= 1, got " + std::to_string(n));
    fastdl::set_num_threads(n);
  });
  m.def("get_num_threads", [] { return fastdl::num_threads(); });
  // The check empty() makes, for outputs allocated in Python (the pooling wrappers).
  m.def("_check_result", [](const std::string& fn, const std::vector<int64_t>& shape,
                            uint64_t itemsize, const std::string& dtype) {
    check_result(fn.c_str(), shape, itemsize, dtype.c_str());
  });
  m.def("build_info", [] {
    py::dict d;
    // "isa" and "simd" are the same (the kernel set in use); "simd" is the older name.
    d["isa"] = std::string(fastdl::kernels().isa);
    d["isa_available"] = fastdl::available_isas();
    d["isa_compiled"] = fastdl::compiled_isas();
    // FASTDL_NATIVE=ON: every unit was compiled with -march=native (runs on this CPU only)
    d["native"] = static_cast<bool>(FASTDL_NATIVE_BUILD);
    d["openmp"] = fastdl::have_openmp();
#if defined(_OPENMP)
    d["openmp_version"] = static_cast<int>(_OPENMP);
#endif
    d["openmp_runtime"] = fastdl::openmp_library();
    d["num_threads"] = fastdl::num_threads();
    d["simd"] = std::string(fastdl::kernels().isa);
    d["gemm"] = std::string(fastdl::gemm::describe());
    d["compiler"] = std::string(FASTDL_COMPILER);
    return d;
  });
}

}  // namespace fastdl::bind
