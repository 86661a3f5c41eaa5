"""mmfusion: multimodal human action recognition in PyTorch.

Data flows one way: files -> readers (:mod:`mmfusion.data`) -> samples (dict of modality
tensors) -> encoders (:mod:`mmfusion.encoders`) -> fusion blocks (:mod:`mmfusion.fusion`)
-> heads / models (:mod:`mmfusion.models`), trained by :mod:`mmfusion.engine`.
"""

from .errors import CheckpointError, ConfigError, DataFormatError, MissingModalityError, MMFusionError
from .registry import create_model, is_model, list_models, register_model

__version__ = "0.1.0"

__all__ = [
    "CheckpointError", "ConfigError", "DataFormatError", "MMFusionError", "MissingModalityError",
    "create_model", "is_model", "list_models", "register_model", "__version__",
]
