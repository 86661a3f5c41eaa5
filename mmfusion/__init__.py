"""mmfusion: multimodal human action recognition in PyTorch.

Data flows one way: files -> readers (:mod:`mmfusion.data`) -> samples (dict of modality
tensors) -> encoders (:mod:`mmfusion.encoders`) -> fusion blocks (:mod:`mmfusion.fusion`)
-> heads / models (:mod:`mmfusion.models`), trained by :mod:`mmfusion.engine`.

``import mmfusion`` is light (torch, the registry, the typed configs); the model zoo is imported
on the first registry call (:func:`list_models`, :func:`create_model`, :func:`get_model_cfg`).
"""

from .errors import CheckpointError, ConfigError, DataFormatError, MissingModalityError, MMFusionError
from .lazy import lazy_exports
from .model_cfg import InputSpec, ModelCfg
from .registry import create_model, dummy_inputs, get_model_cfg, is_model, list_models, register_model

__version__ = "0.1.0"

__all__ = [
    "CheckpointError", "ConfigError", "DataFormatError", "MMFusionError", "MissingModalityError",
    "InputSpec", "ModelCfg", "create_model", "dummy_inputs", "get_model_cfg", "is_model", "list_models",
    "register_model", "__version__", "from_pretrained", "save_pretrained", "push_to_hub",
]

# Hub-style weights (mmfusion.models.pretrained) load the model zoo: imported on first use only
__getattr__, __dir__ = lazy_exports("mmfusion", {"from_pretrained": "models.pretrained",
                                                 "save_pretrained": "models.pretrained",
                                                 "push_to_hub": "models.pretrained"})
