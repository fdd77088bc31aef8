// fastdl._core: composes the bindings of each kernel family. Nothing else lives here.
#include "bindings/arrays.h"
#include "kernels/dispatch.h"

#ifndef FASTDL_VERSION
#define FASTDL_VERSION "dev"
#endif

namespace fastdl::bind {
void register_runtime(py::module_& m);
void register_optim(py::module_& m);
void register_batchnorm(py::module_& m);
void register_linear(py::module_& m);
void register_conv(py::module_& m);
}  // namespace fastdl::bind

PYBIND11_MODULE(_core, m) {
  m.doc() = "fastdl's native kernels (C++17, OpenMP). Use fastdl.ops, not this module.";
  m.attr("__version__") = FASTDL_VERSION;
  fastdl::kernels();  // choose the ISA now: a bad FASTDL_ISA fails the import, clearly
  fastdl::bind::register_errors(m);
  fastdl::bind::register_runtime(m);
  fastdl::bind::register_optim(m);
  fastdl::bind::register_batchnorm(m);
  fastdl::bind::register_linear(m);
  fastdl::bind::register_conv(m);
}
