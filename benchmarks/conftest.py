import pytest


def pytest_collection_modifyitems(config, items):
    # Timings are opt-in (`pytest benchmarks --benchmark-enable`); the result checks
    # that live beside them always run.
    if not config.getoption("benchmark_enable", default=False):
        skip = pytest.mark.skip(reason="timings need --benchmark-enable")
        for item in items:
            if "benchmark" in getattr(item, "fixturenames", ()):
                item.add_marker(skip)
