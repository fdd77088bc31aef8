"""Shared test helpers."""

import os
import subprocess
import sys
import tempfile

import pytest


def _run_python(code, *args, env=None, timeout=120):
    """Run ``python -c code *args`` in a fresh interpreter.

    The working directory is a temporary folder, never the checkout: `python -c` puts
    its working directory first on sys.path, and from the checkout `import fastdl` would
    find the source folder (which has no compiled module) instead of the installed
    package.
    """
    with tempfile.TemporaryDirectory() as cwd:
        return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd,
                              env={**os.environ, **(env or {})}, capture_output=True,
                              text=True, timeout=timeout)


@pytest.fixture
def run_python():
    """``run_python(code, *args, env={...})`` -> CompletedProcess (see _run_python)."""
    return _run_python


# Hypothesis profiles. "default" (used by CI and a plain `pytest`) is small and
# derandomized: the same examples every run, so a failure reproduces exactly and the
# property suites (tests/properties) stay fast. `--hypothesis-profile=deep` draws
# fresh random examples, many of them, for long local runs; failures print the
# reproduce blob. Property tests set no max_examples of their own, so the profile rules.
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "default", max_examples=25, deadline=None, derandomize=True, database=None,
    print_blob=True, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    "deep", max_examples=1500, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("default")


def pytest_configure(config):
    # Reporting a failing example, hypothesis writes a patch with libcst, whose import of
    # mypy_extensions warns; under filterwarnings=error that would hide the failure
    # behind an INTERNALERROR.
    config.addinivalue_line("filterwarnings",
                            "ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning")
