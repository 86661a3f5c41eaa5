"""The synthetic world's ``mmfusion_synth.json``: type and range checks of the fields readers use.

The file is written by :func:`mmfusion.data.synthetic.generate` and read back as plain JSON by
the data set, the packed store (a copy lives in ``index.json["meta"]``) and the RGB-D
pipeline. A hand-edited or foreign file with wrong types (``"sizes": {"rgb": "big"}``,
``"fx": null``, ``"classes": 5``) used to fail far away -- ``int(None)`` in ``meta_sizes`` or
a division by a string in the camera model. :func:`validate_synth_meta` checks every field
those readers consume, before anything is allocated, and names the file and the field.

Checked fields (all optional; other keys are free-form and not checked):

==============  ==============================================================================
field           rule
==============  ==============================================================================
``sizes``       mapping source -> ``[H, W]`` or ``{"height"/"h": H, "width"/"w": W}``, ints 1..65535
``intrinsics``  mapping camera -> mapping with finite numbers ``fx``, ``fy`` (> 0), ``cx``, ``cy``
                (or directly such a mapping); ``height`` / ``width`` ints 1..65535 when present
``classes``     list of ints (0-based IDs), ``"A013"`` strings or mappings with an int ``action``
                (1..999) or ``id`` (0..998) and optionally a string ``name``
``fps``         finite number > 0
==============  ==============================================================================
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ...errors import DataFormatError
from .jsonfile import read_json

_MAX_SIDE = 65535


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) and math.isfinite(v)


def _side(v: Any) -> bool:
    return _is_int(v) and 1 <= v <= _MAX_SIDE


def validate_synth_meta(meta: Any, path: str | os.PathLike[str] | None) -> dict[str, Any]:
    """Check the fields of a synthetic meta mapping that readers use; returns ``meta``.

    Raises:
        DataFormatError: naming ``path`` and the offending field.
    """
    def bad(field: str, why: str) -> DataFormatError:
        return DataFormatError(path, f"synthetic meta field {field}: {why}")

    if not isinstance(meta, Mapping):
        raise DataFormatError(path, f"synthetic meta must be a JSON object, got {type(meta).__name__}")
    sizes = meta.get("sizes")
    if sizes is not None:
        if not isinstance(sizes, Mapping):
            raise bad("sizes", f"expected an object source -> [H, W], got {sizes!r:.60}")
        for k, v in sizes.items():
            if isinstance(v, Mapping):
                hw = (v.get("height", v.get("h")), v.get("width", v.get("w")))
            elif isinstance(v, list) and len(v) == 2:
                hw = (v[0], v[1])
            else:
                raise bad(f"sizes.{k}", f"expected [H, W] or {{height, width}}, got {v!r:.60}")
            if not all(_side(x) for x in hw):
                raise bad(f"sizes.{k}", f"H and W must be integers in 1..{_MAX_SIDE}, got {list(hw)!r:.60}")
    intr = meta.get("intrinsics")
    if intr is not None:
        if not isinstance(intr, Mapping):
            raise bad("intrinsics", f"expected an object, got {intr!r:.60}")
        cams = {"": intr} if "fx" in intr else intr
        for name, cam in cams.items():
            field = f"intrinsics.{name}" if name else "intrinsics"
            if not isinstance(cam, Mapping):
                raise bad(field, f"expected an object with fx, fy, cx, cy, got {cam!r:.60}")
            for key in ("fx", "fy", "cx", "cy"):
                if key in cam and not _is_num(cam[key]):
                    raise bad(f"{field}.{key}", f"expected a finite number, got {cam[key]!r:.60}")
            for key in ("fx", "fy"):
                if key in cam and cam[key] <= 0:
                    raise bad(f"{field}.{key}", f"focal length must be > 0, got {cam[key]!r}")
            for key in ("height", "width"):
                if key in cam and not _side(cam[key]):
                    raise bad(f"{field}.{key}", f"expected an integer in 1..{_MAX_SIDE}, got {cam[key]!r:.60}")
    classes = meta.get("classes")
    if classes is not None:
        if not isinstance(classes, list):
            raise bad("classes", f"expected a list, got {classes!r:.60}")
        for i, c in enumerate(classes):
            if isinstance(c, Mapping):
                if "action" in c:
                    ok = _is_int(c["action"]) and 1 <= c["action"] <= 999
                elif "id" in c:
                    ok = _is_int(c["id"]) and 0 <= c["id"] <= 998
                else:
                    ok = False
                if not ok or ("name" in c and not isinstance(c["name"], str)):
                    raise bad(f"classes[{i}]", f"needs an integer action (1..999) or id (0..998) and a string "
                                               f"name, got {dict(c)!r:.80}")
            elif isinstance(c, str):
                if not (c[:1] in "Aa" and c[1:].isdigit() and 1 <= int(c[1:]) <= 999):
                    raise bad(f"classes[{i}]", f"expected a code like 'A013', got {c!r:.60}")
            elif not (_is_int(c) and 0 <= c <= 998):
                raise bad(f"classes[{i}]", f"expected a 0-based action ID, 'A013' or an object, got {c!r:.60}")
    fps = meta.get("fps")
    if fps is not None and not (_is_num(fps) and fps > 0):
        raise bad("fps", f"expected a finite number > 0, got {fps!r:.60}")
    return dict(meta)


def read_synth_meta_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and validate a ``mmfusion_synth.json`` (malformed JSON names the line)."""
    path = Path(path)
    return validate_synth_meta(read_json(path, "synthetic meta"), path)
