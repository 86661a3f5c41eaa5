"""deform3d_tiny under torch.compile with the default inductor backend (~30 s of C++ codegen on one core)."""

from __future__ import annotations

import pytest
import torch

import mmfusion


@pytest.mark.slow
def test_inductor_compile_matches_eager() -> None:
    model = mmfusion.create_model("deform3d_tiny", num_classes=6).eval()
    with torch.no_grad():
        for blk in model.blocks:
            blk.deform.token_search.proj.weight.normal_(0, 0.5)
    batch = {"rgb": torch.randn(2, 3, 8, 32, 32), "skeleton": torch.randn(2, 3, 8, 25, 2)}
    compiled = torch.compile(model)
    with torch.no_grad():
        ref = model(batch)["logits"]
        out = compiled(batch)["logits"]
    torch.testing.assert_close(out, ref, atol=1e-4, rtol=1e-4)
