"""Reading a JSON file the package's metadata lives in, with errors that name the file and line."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ...errors import DataFormatError


def read_json(path: str | os.PathLike[str], what: str) -> Any:
    """Parse ``path``; unreadable bytes or malformed JSON are a :class:`DataFormatError` naming the
    file (and the line), ``what`` says what the file is (``"store index"``, ``"synthetic meta"``)."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFormatError(path, f"cannot read {what} ({exc})") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataFormatError(path, f"not valid JSON: {exc.msg}", line=exc.lineno) from None
