"""MAMP (``maoyunyao/MAMP`` ``model/transformer.py`` ``Transformer``, fine-tune protocol) -> ``mamp_transformer``.

MAE-style checkpoints nest the weights under ``model``. Official names: ``joints_embed.proj`` a
Conv2d (256, C, 4, 1) over (t_patch, 1) patches (here a Linear on patches ordered (t, C):
the weight is permuted to (256, 4, C) and flattened), ``temp_embed``, ``pos_embed``, ``blocks.<i>``
(``attn.qkv`` / ``attn.proj``, ``mlp.fc1`` / ``fc2`` = our ``mlp.0`` / ``mlp.3``), ``norm``, and the
fine-tune head ``head.fc1`` (2048, 25 * 256), ``head.bn``, ``head.fc2`` (K, 2048). Released files:
the pre-trained models of the README (``model_mamp/transformer.py``: the same encoder names plus
``decoder_*`` and ``mask_token``, dropped; the encoder fills the backbone, the head is initialised
for fine-tuning) and the ``checkpoint-best.pth`` that ``main_finetune.py`` writes (converted whole).
"""

from __future__ import annotations

from torch import Tensor

from . import register_converter
from .base import Converter


def _patch_embed(w: Tensor) -> Tensor:
    # (D, C, t_patch, 1) Conv2d kernel -> (D, t_patch * C) Linear over (t, C)-ordered patches
    return w.squeeze(-1).permute(0, 2, 1).reshape(w.shape[0], -1) if w.dim() == 4 else w


MAMP = register_converter(Converter(
    source="mamp", models=("mamp_transformer",), official="maoyunyao/MAMP model/transformer.py Transformer",
    rules=((r"^joints_embed\.proj\.", "patch_embed."),
           (r"\.mlp\.fc1\.", ".mlp.0."),
           (r"\.mlp\.fc2\.", ".mlp.3."),
           (r"^head\.fc1\.", "pre_logits.0."),
           (r"^head\.bn\.", "pre_logits.1."),
           (r"^head\.fc2\.", "head."),
           (r"^(?!pre_logits\.|head\.)", "encoder.")),
    ignore=(r"^decoder_", r"^mask_token$"),
    transforms={r"encoder\.patch_embed\.weight": _patch_embed}))
