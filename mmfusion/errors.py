"""Error types raised by mmfusion.

Every error that comes from user data names the offending file (and the line where it
applies), so that a broken sample in a data set of 100k files can be found at once.
"""

from __future__ import annotations

from os import PathLike


class MMFusionError(Exception):
    """Base class of every error mmfusion raises on purpose."""


class DataFormatError(MMFusionError, ValueError):
    """A file does not follow the format its reader expects.

    Args:
        path: the file that is wrong.
        problem: what is wrong, in words.
        line: 1-based line number for text formats, if known.
    """

    def __init__(self, path: str | PathLike[str] | None, problem: str, line: int | None = None) -> None:
        self.path = None if path is None else str(path)
        self.problem = problem
        self.line = line
        where = self.path or "<memory>"
        if line is not None:
            where = f"{where}:{line}"
        super().__init__(f"{where}: {problem}")


class MissingModalityError(MMFusionError, KeyError):
    """A model or data set needs a modality that was not given / not found on disk."""

    def __init__(self, modality: str, detail: str = "") -> None:
        self.modality = modality
        msg = f"required modality {modality!r} is missing"
        if detail:
            msg = f"{msg}: {detail}"
        super().__init__(msg)

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return str(self.args[0])


class ConfigError(MMFusionError, ValueError):
    """An invalid configuration value (unknown model name, bad shape option, ...)."""


class CheckpointError(MMFusionError, RuntimeError):
    """A checkpoint cannot be read or does not fit the model."""


class LockError(MMFusionError, RuntimeError):
    """Another live process holds the single-writer lock of a folder (run folder, store being packed)."""


class NonFiniteError(MMFusionError, FloatingPointError):
    """Training produced a NaN or infinite loss, gradient or weight (and the policy is to stop)."""
