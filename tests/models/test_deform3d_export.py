"""deform3d_tiny through torch.compile (graph capture, no breaks) and ONNX (opset 20) + onnxruntime."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import Tensor, nn

import mmfusion


class _Wrapper(nn.Module):
    """Tensor-in / tensor-out view of the dict model, for export."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, rgb: Tensor, skeleton: Tensor) -> tuple[Tensor, Tensor]:
        out = self.model({"rgb": rgb, "skeleton": skeleton}, return_offsets=True)
        return out["logits"], out["offsets"]


def _model_with_offsets() -> nn.Module:
    model = mmfusion.create_model("deform3d_tiny", num_classes=10)
    with torch.no_grad():  # non-zero offsets, so the exported grid_sample really interpolates
        for blk in model.blocks:
            blk.deform.token_search.proj.weight.normal_(0, 0.5)
    return model


def _inputs(n: int) -> tuple[Tensor, Tensor]:
    return torch.randn(n, 3, 8, 32, 32), torch.randn(n, 3, 8, 25, 2)


def test_onnx_export_opset20_matches_onnxruntime(tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from torch.export import Dim

    wrapper = _Wrapper(_model_with_offsets().eval())
    path = tmp_path / "deform3d_tiny.onnx"
    batch = Dim("N", min=1, max=64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # 5-D GridSample is in the ONNX spec from opset 20; the TorchScript exporter refuses it below 20
        torch.onnx.export(wrapper, _inputs(2), str(path), opset_version=20, dynamo=True,
                          input_names=["rgb", "skeleton"], output_names=["logits", "offsets"],
                          dynamic_shapes={"rgb": {0: batch}, "skeleton": {0: batch}})
    import onnx

    proto = onnx.load(str(path))
    assert any(n.op_type == "GridSample" for n in proto.graph.node)
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) >= 20
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rgb, skel = _inputs(3)  # another batch size than at export
    logits, offsets = session.run(None, {"rgb": rgb.numpy(), "skeleton": skel.numpy()})
    with torch.no_grad():
        ref_logits, ref_offsets = wrapper(rgb, skel)
    assert ref_offsets.abs().max() > 0.1
    np.testing.assert_allclose(logits, ref_logits.numpy(), atol=1e-4, rtol=0)
    np.testing.assert_allclose(offsets, ref_offsets.numpy(), atol=1e-4, rtol=0)


def test_compile_fullgraph_eval_and_train() -> None:
    """No graph breaks (fullgraph=True); aot_eager traces forward and backward without codegen cost."""
    model = _model_with_offsets()
    rgb, skel = _inputs(2)
    model.eval()
    compiled = torch.compile(_Wrapper(model), backend="aot_eager", fullgraph=True)
    with torch.no_grad():
        ref = _Wrapper(model)(rgb, skel)
        out = compiled(rgb, skel)
    torch.testing.assert_close(out[0], ref[0], atol=1e-5, rtol=0)
    model.train()
    compiled_train = torch.compile(_Wrapper(model), backend="aot_eager", fullgraph=True)
    logits, _ = compiled_train(rgb, skel)
    logits.square().sum().backward()
    grad = model.blocks[0].deform.token_search.dw.weight.grad
    assert grad is not None and grad.abs().sum() > 0
