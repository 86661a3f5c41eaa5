"""mmixer_tiny through ONNX (dynamo and TorchScript exporters) + onnxruntime."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import Tensor, nn

import mmfusion

Inputs = Callable[..., tuple[Tensor, ...]]


def _randomise(model: nn.Module) -> None:
    """Non-identity BN statistics and live residual branches, so a wrong export cannot hide."""
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)


@pytest.mark.parametrize("content,dynamo", [("cfem", True), ("cfem", False), ("mean", False)])
def test_onnx_matches_onnxruntime(positional: type[nn.Module], inputs: Inputs, content: str, dynamo: bool,
                                  tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    if dynamo:
        pytest.importorskip("onnxscript")
    model = mmfusion.create_model("mmixer_tiny", content=content)
    _randomise(model)
    # eval() on the wrapper itself: the legacy exporter restores the wrapper's mode afterwards
    wrapper = positional(model).eval()
    args = inputs()
    names = {"input_names": ["rgb", "depth", "ir"], "output_names": ["logits"]}
    with torch.no_grad():
        ref = wrapper(*args).numpy()
    if dynamo:
        path = tmp_path / "mmixer_tiny.onnx"
        torch.onnx.export(wrapper, args, str(path), dynamo=True, **names)
        source: str | bytes = str(path)  # the weights may sit next to it as external data
    else:
        buf = io.BytesIO()
        torch.onnx.export(wrapper, args, buf, dynamo=False, opset_version=17, **names)
        source = buf.getvalue()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(source, opts, providers=["CPUExecutionProvider"])
    got = sess.run(None, {k: v.numpy() for k, v in zip(names["input_names"], args)})[0]
    assert got.shape == ref.shape == (2, 10)
    assert np.abs(ref).max() > 1e-2  # a non-trivial output
    np.testing.assert_allclose(got, ref, atol=1e-4, rtol=0)
