"""What the benchmark scripts share: the JSON report each prints and may save."""

from __future__ import annotations

import json
from pathlib import Path


def write_report(report: dict, path: str | None = None) -> None:
    """Print ``report`` as indented JSON and, when ``path`` is given, save it there too (its folder is created)."""
    text = json.dumps(report, indent=2)
    print(text)
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text + "\n")
