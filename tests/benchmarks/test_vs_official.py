"""benchmarks/bench_vs_official.py: the weight copy and the isolated import of an official checkout
(the timing itself is a benchmark, never run by the tests)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import bench_vs_official as bvo  # noqa: E402


class _Official(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("A", torch.ones(2, 2))
        self.body = nn.Conv2d(3, 4, 1)
        self.bn = nn.BatchNorm2d(4)
        self.fcn = nn.Conv2d(4, 5, 1)  # a 1x1-conv classifier, as ST-GCN's

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fcn(self.bn(self.body(x)).mean(dim=(2, 3), keepdim=True)).flatten(1)


class _Ours(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Conv2d(3, 4, 1)
        self.bn = nn.BatchNorm2d(4)
        self.head = nn.Linear(4, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.bn(self.body(x)).mean(dim=(2, 3)))


def test_copy_weights_pairs_in_order_and_reshapes() -> None:
    torch.manual_seed(0)
    official, ours = _Official(), _Ours()
    official.bn.running_mean.fill_(0.5)
    n = bvo.copy_weights(official, ours, skip_src=lambda k: k == "A")
    assert n == 8  # conv w/b, bn w/b/mean/var, head w/b
    assert torch.equal(ours.bn.running_mean, official.bn.running_mean)
    x = torch.randn(2, 3, 4, 4)
    torch.testing.assert_close(ours(x), official(x))


def test_copy_weights_refuses_a_mismatch() -> None:
    with pytest.raises(RuntimeError, match="official tensors vs"):
        bvo.copy_weights(_Official(), _Ours())  # the adjacency buffer has no counterpart


def test_official_import_is_isolated(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "__init__.py").write_text("")
    (tmp_path / "model" / "net.py").write_text("import mmcv\nVALUE = mmcv.MARK\n")
    with bvo.official_import(tmp_path, {"mmcv": bvo._stub("mmcv", MARK=7)}):
        import importlib

        assert importlib.import_module("model.net").VALUE == 7
    assert "model" not in sys.modules and "mmcv" not in sys.modules
    assert str(tmp_path) not in sys.path
