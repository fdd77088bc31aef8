"""The `fastdl` command."""

import json

import numpy as np
import pytest

import fastdl as fd
from fastdl import bench, cli


def test_info_prints_build_info(capsys):
    assert cli.main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["simd"] == fd.build_info()["simd"]
    assert cli.main(["info"]) == 0
    assert "simd" in capsys.readouterr().out


def test_resnet18_shapes():
    shapes = bench.resnet18_param_shapes()
    assert len(shapes) == 62
    assert sum(int(np.prod(s)) for s in shapes) == 11_689_512
    assert bench.workload_shapes("flat") == [(11_689_512,)]
    with pytest.raises(ValueError):
        bench.workload_shapes("vgg")


def test_bench_optim_small(monkeypatch, capsys):
    # the whole command path on a small workload (the real one is 11.7M values)
    monkeypatch.setattr(bench, "workload_shapes", lambda name: [(7, 5), (300,)])
    assert cli.main(["bench", "optim", "--optimizers", "adam,nadam", "--workloads", "resnet18",
                     "--threads", "1", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if ln.startswith(("adam ", "nadam "))]
    assert len(lines) == 2
    assert "numpy/native" in out


def test_bench_optim_unknown_optimizer(capsys):
    assert cli.main(["bench", "optim", "--optimizers", "lion"]) == 2
    assert "lion" in capsys.readouterr().err


def test_table_ratios():
    rows = [{"optimizer": "adam", "workload": "flat", "threads": 1, "native": 0.002,
             "numpy": 0.010}]
    table = bench.format_table(rows)
    assert "5.00" in table and "2.00" in table
