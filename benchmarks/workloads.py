"""Workloads shared by the benchmarks and `fastdl bench`."""

from __future__ import annotations

import numpy as np


def resnet18_param_shapes() -> list[tuple[int, ...]]:
    """The 62 parameter shapes of torchvision's ResNet-18 (11,689,512 values)."""
    shapes: list[tuple[int, ...]] = [(64, 3, 7, 7), (64,), (64,)]
    cin = 64
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        for block in range(2):
            shapes += [(cout, cin, 3, 3), (cout,), (cout,), (cout, cout, 3, 3), (cout,), (cout,)]
            if block == 0 and (stride != 1 or cin != cout):
                shapes += [(cout, cin, 1, 1), (cout,), (cout,)]
            cin = cout
    shapes += [(1000, 512), (1000,)]
    return shapes
