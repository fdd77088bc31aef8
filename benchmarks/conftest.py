import pytest

from fastdl.bench import all_threads


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
    """The indirect parameter's thread count for fastdl, torch and NumPy's BLAS
    (threadpoolctl) alike; the previous counts are restored after."""
    with all_threads(request.param):
        yield request.param
