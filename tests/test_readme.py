"""The README's Python examples run, and print what the README says they print."""

import contextlib
import io
import pathlib
import re

import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def _blocks():
    if not README.exists():  # tests run from an installed wheel without the checkout
        return []
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_examples():
    if not README.exists():
        pytest.skip("README.md not next to the tests")
    assert len(_blocks()) >= 3


def test_readme_examples_run_in_order():
    blocks = _blocks()
    if not blocks:
        pytest.skip("README.md not next to the tests")
    namespace: dict = {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for code in blocks:
            exec(compile(code, str(README), "exec"), namespace)
    text = out.getvalue()
    # the validation example prints the message its comment shows
    assert "sgd_step: grads[1] has shape (10,), expected (64,) like params[1]" in text
    # the twin comparison prints a small difference
    diff = float(text.splitlines()[2])
    assert diff < 1e-5
    # the losses section: MSE through a sigmoid stalls when confidently wrong, CE does not
    assert "logit -6: MSE gradient -0.00492, cross-entropy gradient -0.99753" in text
    assert "MSE: accuracy after 50 steps 0.01" in text
    assert "cross-entropy: accuracy after 50 steps 1.00" in text
    # the data section: the embedded digits, a softmax regression on them, a resumed epoch
    assert "(1437, 1, 8, 8) float32 int64\n360 [36 36 36 36 36 36 36 36 36 36]\n" in text
    accuracy = float(re.search(r"digits: test accuracy ([0-9.]+)", text).group(1))
    assert accuracy >= 0.9
    assert "(128, 3, 32, 32)\nTrue\n" in text
    # the training section: a resumed run continues the epochs and the schedule
    assert "[1, 2, 3] [0.01, 0.0075, 0.005625]\n" in text
    assert int(re.search(r"(\d+) of 360\n", text).group(1)) >= 340
    # distributed training: one process is rank 0 of 1; the shards; the scaling model
    assert re.search(r"^1 \[0\.\d+, 0\.9\d+\]$", text, flags=re.M)
    assert "[[1, 9, 6, 5, 2], [7, 0, 4, 8, 3]] True\n" in text
    assert "S = 44,695,848 bytes\n10 GbE ['35.8', '53.8', '62.9', '67.8']\n" in text
    assert "100 Gb/s InfiniBand ['3.6', '5.4', '6.3', '6.8']\n" in text
