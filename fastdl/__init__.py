"""fastdl: a deep-learning toolkit for NumPy users.

The hot kernels are C++ (pybind11, OpenMP) in :mod:`fastdl.ops`; each has a pure-NumPy
twin with the same signature in :mod:`fastdl.reference`.
"""

from __future__ import annotations

import numbers

__version__ = "0.1.0"

try:
    from fastdl import _core
except ImportError as exc:  # pragma: no cover - depends on how the package was installed
    if "FASTDL_ISA=" in str(exc):  # the build is fine; the environment asks for too much
        raise ImportError(f"fastdl: {exc} (unset FASTDL_ISA to use the fastest "
                          "available)") from None
    raise ImportError(
        "fastdl's native module fastdl._core could not be imported "
        f"({exc}). Build and install fastdl from source with a C++17 compiler: "
        "`pip install .` in a checkout (or `pip install -e . --no-build-isolation` for "
        "development); see README.md. Importing from inside the source tree without "
        "building it also gives this error."
    ) from exc

from fastdl import ops, reference  # noqa: E402
from fastdl.autograd import Tensor, enable_grad, is_grad_enabled, no_grad  # noqa: E402
from fastdl.random import Generator, manual_seed  # noqa: E402
from fastdl import data, nn, optim  # noqa: E402
from fastdl import linear_model  # noqa: E402
from fastdl import models  # noqa: E402

from fastdl._checks import DTypeError  # noqa: E402


def set_num_threads(n: int) -> None:
    """Set the number of threads fastdl's kernels use (overrides ``OMP_NUM_THREADS``).

    Only fastdl's own kernels are affected, not NumPy's BLAS or PyTorch.
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"set_num_threads: n must be an int, got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"set_num_threads: n must be >= 1, got {n}")
    _core.set_num_threads(int(n))


def get_num_threads() -> int:
    """The number of threads fastdl's kernels use."""
    return _core.get_num_threads()


def build_info() -> dict:
    """How this fastdl was built and what it runs on.

    Keys: ``isa`` (the kernel set chosen at import: "baseline", "avx2" or "avx512";
    the fastest one available unless the ``FASTDL_ISA`` environment variable names
    another), ``isa_available`` (compiled in and supported by this CPU, slowest first),
    ``isa_compiled``, ``native`` (built with ``FASTDL_NATIVE=ON``: every unit for this
    CPU only), ``openmp`` (bool), ``openmp_version`` (the ``_OPENMP`` date the
    kernels were compiled against; only with OpenMP), ``openmp_runtime`` (the path of
    the OpenMP library actually loaded, e.g. libgomp, or a copy vendored into
    ``fastdl.libs/`` by auditwheel; "" without OpenMP), ``num_threads``, ``simd`` (the
    same as ``isa``, its older name), ``gemm``, ``compiler``, ``version``.
    """
    info = dict(_core.build_info())
    info["version"] = __version__
    return info


__all__ = [
    "__version__",
    "DTypeError",
    "Generator",
    "Tensor",
    "build_info",
    "data",
    "enable_grad",
    "get_num_threads",
    "is_grad_enabled",
    "linear_model",
    "manual_seed",
    "models",
    "nn",
    "no_grad",
    "ops",
    "optim",
    "reference",
    "set_num_threads",
]
