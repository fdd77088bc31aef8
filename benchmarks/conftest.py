import pytest

import fastdl

try:
    import torch
except ImportError:
    torch = None


def pytest_collection_modifyitems(config, items):
    # Timings are opt-in (`pytest benchmarks --benchmark-enable`); the result checks
    # that live beside them always run.
    if not config.getoption("benchmark_enable", default=False):
        skip = pytest.mark.skip(reason="timings need --benchmark-enable")
        for item in items:
            if "benchmark" in getattr(item, "fixturenames", ()):
                item.add_marker(skip)


@pytest.fixture
def threads(request):
    """Sets fastdl's (and torch's) thread count to the indirect parameter, then restores it."""
    n = request.param
    old = fastdl.get_num_threads()
    fastdl.set_num_threads(n)
    if torch is not None:
        told = torch.get_num_threads()
        torch.set_num_threads(n)
    yield n
    fastdl.set_num_threads(old)
    if torch is not None:
        torch.set_num_threads(told)
