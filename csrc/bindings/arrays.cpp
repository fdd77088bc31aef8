#include "bindings/arrays.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#if defined(__linux__)
#include <sys/sysinfo.h>
#endif

namespace fastdl::bind {

namespace {
PyObject* g_dtype_error = nullptr;

constexpr int kWritable = py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
constexpr int kAligned = py::detail::npy_api::NPY_ARRAY_ALIGNED_;
constexpr int kCContig = py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_;

bool same_shape(const py::array& a, const py::array& b) {
  if (a.ndim() != b.ndim()) return false;
  for (py::ssize_t d = 0; d < a.ndim(); ++d) {
    if (a.shape(d) != b.shape(d)) return false;
  }
  return true;
}

[[noreturn]] void value_error(const std::string& msg) { throw py::value_error(msg); }
}  // namespace

void register_errors(py::module_& m) {
  // The class lives in pure Python (fastdl/_checks.py) so that the NumPy twins raise
  // the very same type.
  g_dtype_error = py::object(py::module_::import("fastdl._checks").attr("DTypeError")).release().ptr();
  m.add_object("DTypeError", py::handle(g_dtype_error));
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const dtype_error& e) {
      PyErr_SetString(g_dtype_error, e.what());
    }
  });
}

std::string shape_str(const py::array& a) {
  std::ostringstream s;
  s << "(";
  for (py::ssize_t d = 0; d < a.ndim(); ++d) {
    s << a.shape(d);
    if (a.ndim() == 1 || d + 1 < a.ndim()) s << (d + 1 < a.ndim() ? ", " : ",");
  }
  s << ")";
  return s.str();
}

std::string dtype_str(const py::array& a) { return py::str(a.dtype()).cast<std::string>(); }

py::array expect_array(const char* fn, const std::string& what, const py::handle& obj) {
  if (!py::isinstance<py::array>(obj)) {
    throw py::type_error(std::string(fn) + ": " + what + " must be a numpy.ndarray, got " +
                         py::str(py::type::handle_of(obj).attr("__name__")).cast<std::string>());
  }
  return py::reinterpret_borrow<py::array>(obj);
}

DType expect_float(const char* fn, const std::string& what, const py::array& a) {
  DType dt;
  if (!float_dtype(a, &dt)) {
    throw dtype_error(std::string(fn) + ": " + what + " has dtype " + dtype_str(a) +
                      "; only float32 and float64 are supported");
  }
  return dt;
}

namespace {
// dtype `dt` and the shape of `like`, else DTypeError / ValueError naming `what`.
void check_like(const char* fn, const std::string& what, const py::array& a, DType dt,
                const py::array& like, const std::string& like_what) {
  DType got;
  if (!float_dtype(a, &got) || got != dt) {
    throw dtype_error(std::string(fn) + ": " + what + " has dtype " + dtype_str(a) +
                      ", expected " + dtype_name(dt) + " like " + like_what);
  }
  if (!same_shape(a, like)) {
    value_error(std::string(fn) + ": " + what + " has shape " + shape_str(a) + ", expected " +
                shape_str(like) + " like " + like_what);
  }
}
}  // namespace

void check_inplace(const char* fn, const std::string& what, const py::array& a, DType dt,
                   const py::array& like, const std::string& like_what) {
  check_like(fn, what, a, dt, like, like_what);
  const int flags = a.flags();
  if (!(flags & kWritable)) {
    value_error(std::string(fn) + ": " + what + " is read-only; it is updated in place");
  }
  if (!(flags & kCContig) || !(flags & kAligned)) {
    value_error(std::string(fn) + ": " + what + " must be a C-contiguous, aligned array: it "
                "is updated in place, and a copy would lose the update");
  }
}

py::array as_input(const char* fn, const std::string& what, const py::array& a, DType dt,
                   const py::array& like, const std::string& like_what) {
  check_like(fn, what, a, dt, like, like_what);
  return contiguous(a);  // one copy at the boundary for strided or unaligned inputs
}

py::array aligned_copy(const py::array& a) {
  // Not np.ascontiguousarray: it returns an unaligned C-contiguous array as it is, and a
  // kernel reading doubles at an odd address is undefined behaviour (found by UBSan).
  return py::module_::import("numpy").attr("array")(a, py::arg("copy") = true, py::arg("order") = "C");
}

py::array contiguous(const py::array& a) {
  const int flags = a.flags();
  if ((flags & kCContig) && (flags & kAligned)) return a;
  return aligned_copy(a);
}

ByteRange byte_range(const py::array& a) {
  const char* base = static_cast<const char*>(a.data());
  if (a.size() == 0) return {base, base};
  const char* lo = base;
  const char* hi = base + a.itemsize();
  for (py::ssize_t d = 0; d < a.ndim(); ++d) {
    const py::ssize_t span = (a.shape(d) - 1) * a.strides(d);
    if (span < 0) {
      lo += span;
    } else {
      hi += span;
    }
  }
  return {lo, hi};
}

bool overlap(const py::array& a, const py::array& b) {
  const ByteRange ra = byte_range(a), rb = byte_range(b);
  return ra.first < ra.last && rb.first < rb.last && ra.first < rb.last && rb.first < ra.last;
}

uint64_t memory_bytes() {
  static const uint64_t total = [] {
    uint64_t t = 0;
#if defined(__linux__)
    struct sysinfo si {};
    if (sysinfo(&si) == 0) {
      t = (uint64_t(si.totalram) + uint64_t(si.totalswap)) * uint64_t(si.mem_unit);
    }
    for (const char* path : {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}) {
      std::ifstream f(path);
      unsigned long long limit = 0;
      if (f >> limit && limit > 0 && limit < (1ull << 62)) {  // "max" fails to parse: no limit
        t = t > 0 ? std::min<uint64_t>(t, limit) : limit;
        break;
      }
    }
#endif
    return t;
  }();
  return total;
}

namespace {
[[noreturn]] void size_overflow(const char* fn) {
  throw py::value_error(std::string(fn) + ": the sizes overflow a 64-bit integer");
}
}  // namespace

int64_t size_mul(const char* fn, int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) size_overflow(fn);
  return r;
}

int64_t size_add(const char* fn, int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) size_overflow(fn);
  return r;
}

void check_result(const char* fn, const std::vector<int64_t>& shape, uint64_t itemsize,
                  const char* dtype) {
  uint64_t bytes = itemsize;
  bool overflow = false;
  for (int64_t s : shape) {
    if (s < 0) throw py::value_error(std::string(fn) + ": negative dimension " + std::to_string(s));
    overflow = overflow || __builtin_mul_overflow(bytes, uint64_t(s), &bytes);
  }
  const uint64_t limit = memory_bytes();
  if (overflow || bytes > uint64_t(INT64_MAX) || (limit > 0 && bytes > limit)) {
    std::string dims;
    for (int64_t s : shape) dims += (dims.empty() ? "" : ", ") + std::to_string(s);
    const std::string need = overflow ? "more than 2**64 bytes" : std::to_string(bytes) + " bytes";
    const std::string have = limit > 0 ? "this machine's memory (" + std::to_string(limit) + " bytes)"
                                       : "the address space";
    PyErr_SetString(PyExc_MemoryError, (std::string(fn) + ": the result (" + dims + ") " + dtype +
                                        " would need " + need + ", more than " + have)
                                           .c_str());
    throw py::error_already_set();
  }
}

py::array empty(DType dt, const std::vector<py::ssize_t>& shape, const char* fn) {
  check_result(fn, std::vector<int64_t>(shape.begin(), shape.end()),
               dt == DType::f32 ? sizeof(float) : sizeof(double), dtype_name(dt));
  if (dt == DType::f32) return py::array_t<float>(shape);
  return py::array_t<double>(shape);
}

py::sequence expect_sequence(const char* fn, const char* what, const py::handle& obj) {
  if (!py::isinstance<py::list>(obj) && !py::isinstance<py::tuple>(obj)) {
    throw py::type_error(std::string(fn) + ": " + what + " must be a list or tuple of arrays, got " +
                         py::str(py::type::handle_of(obj).attr("__name__")).cast<std::string>());
  }
  return py::reinterpret_borrow<py::sequence>(obj);
}

}  // namespace fastdl::bind
