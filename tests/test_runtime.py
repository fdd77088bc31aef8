"""Threads, build information, the import-time ISA choice, Parameter/Tensor basics."""

import json
import os

import numpy as np
import pytest

import fastdl as fd


@pytest.fixture
def restore_threads():
    old = fd.get_num_threads()
    yield
    fd.set_num_threads(old)


def test_set_get_num_threads(restore_threads):
    fd.set_num_threads(1)
    assert fd.get_num_threads() == 1
    fd.set_num_threads(3)
    expected = 3 if fd.build_info()["openmp"] else 1
    assert fd.get_num_threads() == expected
    assert fd.build_info()["num_threads"] == expected


@pytest.mark.parametrize("bad, exc", [(0, ValueError), (-2, ValueError), (1.5, TypeError),
                                      ("2", TypeError), (True, TypeError)])
def test_set_num_threads_rejects(bad, exc, restore_threads):
    before = fd.get_num_threads()
    with pytest.raises(exc, match="set_num_threads"):
        fd.set_num_threads(bad)
    assert fd.get_num_threads() == before


def test_build_info_keys():
    info = fd.build_info()
    for key in ("openmp", "num_threads", "simd", "gemm", "compiler", "isa_available",
                "isa_compiled", "version"):
        assert key in info
    assert isinstance(info["openmp"], bool)
    assert info["simd"] in ("baseline", "avx2", "avx512")
    assert info["simd"] in info["isa_available"]
    assert set(info["isa_available"]) <= set(info["isa_compiled"])
    assert info["version"] == fd.__version__
    # the fastest compiled ISA the CPU has is the default (unless FASTDL_ISA says otherwise)
    if not os.environ.get("FASTDL_ISA"):
        assert info["simd"] == info["isa_available"][-1]


def test_omp_num_threads_is_honoured_and_overridden(run_python):
    if not fd.build_info()["openmp"]:
        pytest.skip("built without OpenMP")
    code = ("import fastdl as fd; a = fd.get_num_threads(); fd.set_num_threads(2); "
            "print(a, fd.get_num_threads())")
    r = run_python(code, env={"OMP_NUM_THREADS": "3"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["3", "2"]


def test_set_num_threads_does_not_change_torch(run_python):
    torch = pytest.importorskip("torch")
    r = run_python("import torch, fastdl as fd; t = torch.get_num_threads(); "
                   "fd.set_num_threads(1); print(t == torch.get_num_threads())",
                   env={"OMP_NUM_THREADS": "2"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "True"
    del torch


# The vector type each x86-64 ISA's GEMM micro-kernels are written for: build_info's
# "gemm" names it from the kernel table itself, so it shows which table is in use.
_GEMM_VECTOR = {"baseline": "vec128", "avx2": "ymm", "avx512": "zmm"}
_INFO = "import json, fastdl as fd; print(json.dumps(fd.build_info()))"


def _info_in_child(run_python, env):
    r = run_python(_INFO, env={"FASTDL_ISA": "", "FASTDL_TEST_HIDE_ISA": "", **env})
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_isa_keys_agree():
    info = fd.build_info()
    assert info["isa"] == info["simd"]
    assert info["isa_available"][0] == "baseline"  # always there, slowest first
    assert info["isa_compiled"][0] == "baseline"
    assert [i for i in info["isa_compiled"] if i in info["isa_available"]] == \
        info["isa_available"]


def test_openmp_runtime_is_the_loaded_library():
    info = fd.build_info()
    if not info["openmp"]:
        assert info["openmp_runtime"] == ""
        return
    path = info["openmp_runtime"]
    assert os.path.isfile(path), path
    # libgomp (GCC), libomp (LLVM) or libiomp5 (Intel), perhaps renamed by auditwheel
    assert "omp" in os.path.basename(path)
    # the file really is mapped into this process (not a guess from the build)
    with open("/proc/self/maps") as maps:
        mapped = {os.path.realpath(line.split()[-1]) for line in maps if "/" in line}
    assert os.path.realpath(path) in mapped


def test_forced_isa_is_reported(run_python):
    for isa in fd.build_info()["isa_available"]:
        info = _info_in_child(run_python, {"FASTDL_ISA": isa})
        assert info["isa"] == isa and info["simd"] == isa
        assert info["isa_available"] == fd.build_info()["isa_available"]
        if not info["native"]:  # -march=native units all use the CPU's widest vectors
            assert f"{isa} micro-kernels: {_GEMM_VECTOR[isa]} " in info["gemm"], info["gemm"]


def test_unknown_isa_fails_import_clearly(run_python):
    r = run_python("import fastdl", env={"FASTDL_ISA": "avx9000"})
    assert r.returncode != 0
    assert "FASTDL_ISA=avx9000 is not available" in r.stderr and "baseline" in r.stderr
    assert "Build and install" not in r.stderr  # not a build problem


def test_isa_the_cpu_lacks_fails_import(run_python):
    """Forcing an ISA that is compiled in but that the CPU lacks is an ImportError.

    Where this CPU lacks one, that is tested for real. Everywhere, the CPU's answer is
    also overridden with FASTDL_TEST_HIDE_ISA (which bypasses only the CPUID probe): with
    each faster ISA hidden, forcing it fails naming the ones left, and the default falls
    back to the fastest one left (what a wheel does on an older CPU).
    """
    info = fd.build_info()
    for isa in set(info["isa_compiled"]) - set(info["isa_available"]):
        r = run_python("import fastdl", env={"FASTDL_ISA": isa, "FASTDL_TEST_HIDE_ISA": ""})
        assert r.returncode != 0
        assert f"FASTDL_ISA={isa} is not available" in r.stderr, r.stderr
    avail = info["isa_available"]
    for k in range(1, len(avail)):
        hidden, left = avail[k:], avail[:k]
        env = {"FASTDL_TEST_HIDE_ISA": ",".join(hidden)}
        for isa in hidden:
            r = run_python("import fastdl", env={**env, "FASTDL_ISA": isa})
            assert r.returncode != 0
            assert (f"FASTDL_ISA={isa} is not available on this CPU/build; choose one of: "
                    f"{' '.join(left)}") in r.stderr, r.stderr
        child = _info_in_child(run_python, env)
        assert child["isa"] == left[-1] and child["isa_available"] == left
    # baseline is never missing
    child = _info_in_child(run_python, {"FASTDL_TEST_HIDE_ISA": "baseline",
                                        "FASTDL_ISA": "baseline"})
    assert child["isa"] == "baseline"


def test_parameter_copies_only_when_needed():
    a = np.ones((3, 4), dtype=np.float32)
    p = fd.nn.Parameter(a)
    assert p.data is a and p.requires_grad and p.grad is None
    t = fd.nn.Parameter(np.ones((4, 3), dtype=np.float64).T)  # not C-contiguous
    assert t.data.flags.c_contiguous and t.dtype == np.float64
    ro = np.ones(3, dtype=np.float32)
    ro.flags.writeable = False
    assert fd.nn.Parameter(ro).data.flags.writeable
    assert fd.nn.Parameter(np.arange(3)).dtype == np.float32
    with pytest.raises(TypeError):
        fd.nn.Parameter(np.array(["a"]))


def test_parameter_data_reassignment():
    p = fd.nn.Parameter(np.zeros(3, dtype=np.float32))
    p.data = np.ones(3, dtype=np.float32)
    assert p.data.sum() == 3
    with pytest.raises(ValueError, match="shape"):
        p.data = np.ones(4, dtype=np.float32)
    with pytest.raises(ValueError, match="dtype"):
        p.data = np.ones(3, dtype=np.float64)


def test_tensor_basics():
    t = fd.Tensor(np.arange(6, dtype=np.float64).reshape(2, 3), requires_grad=True)
    assert t.shape == (2, 3) and t.dtype == np.float64 and t.grad is None
    with pytest.raises(ValueError, match="scalar"):
        t.backward()
    t.backward(np.ones((2, 3)))
    t.backward(np.ones((2, 3)))
    np.testing.assert_array_equal(t.grad, np.full((2, 3), 2.0))
    with pytest.raises(TypeError):
        fd.Tensor(np.arange(3), requires_grad=True)
    with fd.no_grad():
        from fastdl.autograd import is_grad_enabled
        assert not is_grad_enabled()
    assert is_grad_enabled()
