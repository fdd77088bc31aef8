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
