"""RGB and IR videos (NTU: ``<name>_rgb.avi`` 1920x1080, ``<name>_ir.avi`` 512x424, 30 fps).

Reading uses decord (a new ``VideoReader`` per call with one thread and ``get_batch`` on
the wanted indices only: decord's known memory growth comes from long-lived readers) and
falls back to PyAV where decord is not installed. Writing uses PyAV with the lossless
``ffv1`` codec in an AVI container, which decord reads back bit-exactly, so synthetic
videos reach the models exactly as rendered.

Truncated files: a cut h264/mpeg4 AVI decodes the frames before the cut without any decoder
error (a real NTU video cut to 30 % gives 15 of 103 frames). Both readers therefore compare the
decodable frame count with the count the container header declares (AVI ``avih``/``strh``,
read by PyAV without decoding) and raise :class:`DataFormatError` when more than
:data:`FRAME_COUNT_TOLERANCE` frames are missing.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ...errors import DataFormatError

try:  # decord has no wheels for macOS/ARM/Windows; PyAV is the fallback
    import decord as _decord
except ImportError:  # pragma: no cover - depends on the platform
    _decord = None


#: decodable frames that may be missing against the container's declared count before a video
#: counts as truncated (encoders may drop a trailing frame or two; NTU videos match exactly)
FRAME_COUNT_TOLERANCE = 2


def container_frame_count(path: str | os.PathLike[str]) -> int | None:
    """Frame count the container header declares (no decoding), or None where it declares none."""
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise DataFormatError(path, "no video stream")
            n = int(container.streams.video[0].frames or 0)
    except DataFormatError:
        raise
    except Exception as exc:  # PyAV raises its own error family (InvalidDataError, ...)
        raise DataFormatError(path, f"cannot open video ({exc})") from exc
    return n or None


def check_frame_count(path: str | os.PathLike[str], decoded: int, declared: int | None,
                      tolerance: int = FRAME_COUNT_TOLERANCE) -> None:
    """Raise :class:`DataFormatError` when ``decoded`` falls short of ``declared`` by more than ``tolerance``."""
    if declared is not None and decoded < declared - tolerance:
        raise DataFormatError(path, f"only {decoded} of the {declared} frames the container declares can be "
                                    f"decoded (truncated or damaged file)")


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise DataFormatError(path, "video file not found")
    if path.stat().st_size == 0:
        raise DataFormatError(path, "video file is empty")


def video_num_frames(path: str | os.PathLike[str]) -> int:
    """Number of decodable frames."""
    path = Path(path)
    _check_file(path)
    declared = container_frame_count(path)
    if _decord is not None:
        try:
            n = len(_decord.VideoReader(str(path), num_threads=1))
        except Exception as exc:  # decord raises DECORDError and RuntimeError alike
            raise DataFormatError(path, f"cannot open video ({str(exc).splitlines()[0]})") from exc
    else:
        import av

        try:
            with av.open(str(path)) as container:
                n = sum(1 for _ in container.decode(video=0))
        except Exception as exc:
            raise DataFormatError(path, f"cannot decode video ({exc})") from exc
    check_frame_count(path, n, declared)
    return n


def read_video(path: str | os.PathLike[str], indices: Sequence[int] | None = None,
               gray: bool = False) -> np.ndarray:
    """Decode frames as ``uint8 (T, H, W, 3)``, or ``(T, H, W)`` with ``gray=True`` (IR).

    Args:
        indices: 0-based frame indices (any order, repeats allowed); default all frames.
    Raises:
        DataFormatError: missing/empty/corrupt file, an index out of range, or fewer decodable
            frames than the container declares (a truncated file; see the module docstring).
    """
    path = Path(path)
    _check_file(path)
    declared = container_frame_count(path)
    if _decord is None:
        frames = _read_av(path, indices, gray, declared)
    else:
        try:
            vr = _decord.VideoReader(str(path), num_threads=1)
        except Exception as exc:
            raise DataFormatError(path, f"cannot open video ({str(exc).splitlines()[0]})") from exc
        n = len(vr)
        if n == 0:
            raise DataFormatError(path, "video has no frames")
        check_frame_count(path, n, declared)
        idx = list(range(n)) if indices is None else [int(i) for i in indices]
        bad = [i for i in idx if not 0 <= i < n]
        if bad:
            raise DataFormatError(path, f"frame index {bad[0]} out of range (video has {n} frames)")
        try:
            frames = vr.get_batch(idx).asnumpy()
        except Exception as exc:
            raise DataFormatError(path, f"cannot decode frames ({str(exc).splitlines()[0]})") from exc
        finally:
            del vr
        if gray:
            frames = frames[..., 0] if _is_gray(frames) else _to_gray(frames)
    return np.ascontiguousarray(frames)


def _is_gray(frames: np.ndarray) -> bool:
    return bool((frames[..., 0] == frames[..., 1]).all() and (frames[..., 1] == frames[..., 2]).all())


def _to_gray(frames: np.ndarray) -> np.ndarray:
    w = np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return np.clip(frames.astype(np.float32) @ w + 0.5, 0, 255).astype(np.uint8)


def _read_av(path: Path, indices: Sequence[int] | None, gray: bool, declared: int | None = None) -> np.ndarray:
    """PyAV fallback: decode in order, keep only the wanted frames, stop after the last one.

    A truncated file shows only when decoding reaches the cut, so the count check applies when
    every frame was decoded (``indices`` None) or a wanted frame lies past the end."""
    import av

    want = None if indices is None else [int(i) for i in indices]
    if want is not None and any(i < 0 for i in want):
        raise DataFormatError(path, f"frame index {min(want)} out of range")
    last = None if want is None else max(want, default=-1)
    wanted = None if want is None else set(want)
    kept: dict[int, np.ndarray] = {}
    n = 0
    try:
        with av.open(str(path)) as container:
            for n, frame in enumerate(container.decode(video=0), start=1):
                i = n - 1
                if wanted is None or i in wanted:
                    kept[i] = frame.to_ndarray(format="rgb24")
                if last is not None and i >= last:
                    break
    except Exception as exc:
        raise DataFormatError(path, f"cannot decode video ({exc})") from exc
    if n == 0:
        raise DataFormatError(path, "video has no frames")
    if want is None or n <= last:
        check_frame_count(path, n, declared)
    order = list(range(n)) if want is None else want
    missing = [i for i in order if i not in kept]
    if missing:
        raise DataFormatError(path, f"frame index {missing[0]} out of range (video has {n} frames)")
    arr = np.stack([kept[i] for i in order]) if order else np.zeros((0, 0, 0, 3), np.uint8)
    if gray:
        arr = arr[..., 0] if _is_gray(arr) else _to_gray(arr)
    return arr


def write_video(path: str | os.PathLike[str], frames: np.ndarray, fps: int = 30, codec: str = "ffv1") -> Path:
    """Write ``uint8 (T, H, W, 3)`` or ``(T, H, W)`` frames to an AVI (lossless ffv1 by default)."""
    import av

    frames = np.asarray(frames)
    if frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8, got {frames.dtype}")
    if frames.ndim == 3:
        frames = np.repeat(frames[..., None], 3, axis=-1)
    if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        raise ValueError(f"frames must be (T, H, W, 3) or (T, H, W) with T > 0, got {frames.shape}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix or '.avi'}")
    h, w = frames.shape[1:3]
    with av.open(str(tmp), mode="w", format="avi") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = w, h
        stream.pix_fmt = "bgr0" if codec == "ffv1" else "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    os.replace(tmp, path)
    return path
