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


def _fake_official_state(table: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors under the official names and shapes of ``tests/models/fixtures/official_keys``."""
    import json

    path = Path(__file__).resolve().parents[1] / "models" / "fixtures" / "official_keys" / f"{table}.json"
    g = torch.Generator().manual_seed(seed)
    return {k: torch.zeros((), dtype=torch.long) if k.endswith("num_batches_tracked") else torch.randn(s, generator=g)
            for k, s in json.loads(path.read_text())["keys"]}


class _StateOnly:
    """Stands in for an official model: the copy reads only its ``state_dict()``."""

    def __init__(self, state: dict[str, torch.Tensor]) -> None:
        self._state = state

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self._state


@pytest.mark.parametrize(("model", "table", "keep", "official_key", "ours_key"), [
    ("mamp_transformer", "mamp", "", "head.fc2.weight", "head.weight"),
    ("epam_net", "epam", "", "pose_cls_head.fc_cls.weight", "pose_head.fc.weight"),
    ("xshiftnet_rgb", "epam", "rgb_", "rgb_cls_head.fc_cls.weight", "head.fc.weight"),
    ("xshiftnet_pose", "epam", "pose_", "pose_backbone.conv5.conv.weight", "backbone.conv5.0.weight"),
])
def test_converter_copies_fill_ours_from_the_official_names(model: str, table: str, keep: str, official_key: str,
                                                            ours_key: str) -> None:
    pair = bvo.PAIRS[model]
    state = {k: v for k, v in _fake_official_state(table).items() if k.startswith(keep)}  # a stream: its keys
    ours = pair.build_ours(60)
    n = pair.copy(_StateOnly(state), ours)  # type: ignore[arg-type]  # loads strictly: every key of ours filled
    assert n == len(state)
    assert torch.equal(ours.state_dict()[ours_key].flatten(), state[official_key].flatten())


def test_epam_pair_trains_on_the_models_own_loss() -> None:
    pair = bvo.PAIRS["epam_net"]
    model = bvo.mmfusion.create_model("epam_net_tiny", num_classes=5, dropout=0.0).train()
    g = torch.Generator().manual_seed(0)
    x = (torch.randn(2, 3, 8, 64, 64, generator=g), torch.rand(2, 17, 24, 16, 16, generator=g))
    y = torch.tensor([1, 3])
    torch.manual_seed(0)
    bench = pair.loss(pair.ours_logits(model, x), y)
    torch.manual_seed(0)
    own = model.loss(model({"rgb": x[0], "heatmap": x[1]}), y)
    torch.testing.assert_close(bench, own)
