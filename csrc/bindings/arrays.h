// Argument checks shared by the bindings: every Python object is unpacked and validated
// here, before the GIL is released and before any array is written.
//
// Errors: a non-array argument is a TypeError; an unsupported dtype is a DTypeError,
// which is both a TypeError and a ValueError (like NumPy's AxisError, which is both a
// ValueError and an IndexError): DESIGN.md calls an unsupported dtype a TypeError and a
// dtype that disagrees with another argument's a ValueError, and an int32 gradient for a
// float32 parameter is both. Shapes, layouts and read-only targets are ValueErrors.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace fastdl::bind {

namespace py = pybind11;

struct dtype_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Exposes fastdl._checks.DTypeError as fastdl._core.DTypeError and translates
// dtype_error to it.
void register_errors(py::module_& m);

enum class DType { f32, f64 };

inline const char* dtype_name(DType d) { return d == DType::f32 ? "float32" : "float64"; }

// Returns true and sets *out for float32/float64 arrays.
inline bool float_dtype(const py::array& a, DType* out) {
  const py::dtype dt = a.dtype();
  if (dt.is(py::dtype::of<float>()) || dt.equal(py::dtype::of<float>())) {
    *out = DType::f32;
    return true;
  }
  if (dt.is(py::dtype::of<double>()) || dt.equal(py::dtype::of<double>())) {
    *out = DType::f64;
    return true;
  }
  return false;
}

std::string shape_str(const py::array& a);
std::string dtype_str(const py::array& a);

// The object as an ndarray (no conversion); TypeError naming `what` otherwise.
py::array expect_array(const char* fn, const std::string& what, const py::handle& obj);

// The float dtype of an array; DTypeError otherwise.
DType expect_float(const char* fn, const std::string& what, const py::array& a);

// A target written in place: writable, aligned, C-contiguous, of dtype `dt` and the
// shape of `like` (named like_what). ValueError / DTypeError otherwise; never a copy.
void check_inplace(const char* fn, const std::string& what, const py::array& a, DType dt,
                   const py::array& like, const std::string& like_what);

// An input read only: dtype `dt`, shape of `like`; returned C-contiguous and aligned
// (copied once here when it is not).
py::array as_input(const char* fn, const std::string& what, const py::array& a, DType dt,
                   const py::array& like, const std::string& like_what);

// A list/tuple argument (TypeError otherwise).
py::sequence expect_sequence(const char* fn, const char* what, const py::handle& obj);

// The array itself when C-contiguous and aligned, else one contiguous copy.
py::array contiguous(const py::array& a);

// The bytes [first, last) that an array's elements span (first == last when it is
// empty), whatever its strides.
struct ByteRange {
  const char* first;
  const char* last;
};
ByteRange byte_range(const py::array& a);

// Whether two arrays' byte ranges intersect (a conservative test of shared memory,
// exact for C-contiguous arrays).
bool overlap(const py::array& a, const py::array& b);

// A fresh C-contiguous (hence aligned) copy.
py::array aligned_copy(const py::array& a);

// This machine's memory in bytes: RAM plus swap, capped by a container's (cgroup v1 or
// v2) memory limit; 0 when unknown. Read once, then cached.
uint64_t memory_bytes();

// MemoryError (naming fn, the shape and the dtype) when a result of this shape and item
// size would overflow 64 bits or need more than memory_bytes(); ValueError for a
// negative dimension. empty() checks through it; so do the pooling wrappers, whose
// outputs NumPy allocates (via _core._check_result).
void check_result(const char* fn, const std::vector<int64_t>& shape, uint64_t itemsize,
                  const char* dtype);

// A fresh (uninitialised) array of the dtype. MemoryError (naming fn), before anything
// is allocated, when its bytes overflow or exceed this machine's memory (RAM + swap):
// under memory overcommit a huge allocation can succeed and the process be OOM-killed
// when the kernel writes it.
py::array empty(DType dt, const std::vector<py::ssize_t>& shape, const char* fn = "fastdl");

// a * b and a + b of sizes, or a ValueError naming fn when the result overflows int64.
int64_t size_mul(const char* fn, int64_t a, int64_t b);
int64_t size_add(const char* fn, int64_t a, int64_t b);

// Calls f(T{}) with T the call's dtype (float or double), with the GIL released.
template <class F>
void run_released(DType dt, F&& f) {
  py::gil_scoped_release release;
  if (dt == DType::f32) {
    f(0.0f);
  } else {
    f(0.0);
  }
}

}  // namespace fastdl::bind
