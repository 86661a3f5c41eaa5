"""FLOP counting shared by the benchmarks: ``FlopCounterMode`` plus the CPU attention kernels.

torch's flop counter knows the CUDA attention kernels only; on CPU
``F.scaled_dot_product_attention`` dispatches to ``_scaled_dot_product_flash_attention_for_cpu``
(and its backward), which would count 0. Importing this module registers both with torch's own
shape formulas, so attention counts the same on CPU as on GPU.

torch's formula for the convolution backward ignores ``groups`` in the weight-gradient term
(a depthwise conv's backward counts as a dense one); it is replaced here by a corrected one.

What is counted: convolutions, matmul / bmm / addmm / einsum (through bmm), attention. Not
counted: elementwise ops, norms, softmax, pooling, ``grid_sample``, gathers, top-k, FPS and
ball query. MACs = FLOPs / 2.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.utils import flop_counter
from torch.utils.flop_counter import FlopCounterMode

_CPU_SDPA = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu
_CPU_SDPA_BWD = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward

if _CPU_SDPA not in flop_counter.flop_registry:
    @flop_counter.register_flop_formula(_CPU_SDPA)
    def _cpu_sdpa_flop(query_shape: tuple[int, ...], key_shape: tuple[int, ...], value_shape: tuple[int, ...],
                       *args: Any, out_shape: Any = None, **kwargs: Any) -> int:
        return flop_counter.sdpa_flop_count(query_shape, key_shape, value_shape)

if _CPU_SDPA_BWD not in flop_counter.flop_registry:
    @flop_counter.register_flop_formula(_CPU_SDPA_BWD)
    def _cpu_sdpa_bwd_flop(grad_out_shape: tuple[int, ...], query_shape: tuple[int, ...],
                           key_shape: tuple[int, ...], value_shape: tuple[int, ...], *args: Any,
                           out_shape: Any = None, **kwargs: Any) -> int:
        return flop_counter.sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape, value_shape)


def _conv_backward_flop(grad_out_shape: Any, x_shape: Any, w_shape: Any, _bias: Any, _stride: Any, _padding: Any,
                        _dilation: Any, transposed: bool, _output_padding: Any, groups: int, output_mask: Any,
                        out_shape: Any, **kwargs: Any) -> int:
    """torch's formula, with the weight-gradient term divided by ``groups``.

    torch counts the weight gradient of a grouped convolution as if it were dense
    (``C_out * C_in`` products per position instead of ``C_out * C_in / groups``), which
    inflates a depthwise conv's backward by a factor of its channel count.
    """
    flops = 0
    if output_mask[0]:
        flops += flop_counter.conv_flop_count(grad_out_shape, w_shape, flop_counter.get_shape(out_shape[0]),
                                              not transposed)
    if output_mask[1]:
        def t(shape: Any) -> list[int]:
            return [shape[1], shape[0], *shape[2:]]
        gw = flop_counter.get_shape(out_shape[1])
        if transposed:
            dense = flop_counter.conv_flop_count(t(grad_out_shape), t(x_shape), t(gw), transposed=False)
        else:
            dense = flop_counter.conv_flop_count(t(x_shape), t(grad_out_shape), t(gw), transposed=False)
        flops += dense // max(int(groups), 1)
    return flops


_CONV_BWD = torch.ops.aten.convolution_backward
if getattr(flop_counter.flop_registry.get(_CONV_BWD), "__name__", "") != "_mmfusion_conv_bwd":
    _wrapped = flop_counter.shape_wrapper(_conv_backward_flop)
    _wrapped.__name__ = "_mmfusion_conv_bwd"
    flop_counter.flop_registry[_CONV_BWD] = _wrapped


def count_flops(fn: Callable[[], Any]) -> tuple[int, dict[str, int]]:
    """FLOPs of one call of ``fn`` (total and per aten op, summed over modules)."""
    with FlopCounterMode(display=False) as fc:
        fn()
    per_op: dict[str, int] = {}
    for op, n in fc.get_flop_counts().get("Global", {}).items():
        per_op[str(op)] = int(n)
    return int(fc.get_total_flops()), per_op
