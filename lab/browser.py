"""Where a headless Chromium is and how to start it offline: for the probe figure's PNG and the page screenshots.

The one place that knows a browser path: ``$CHROMIUM`` if set, else the first ``chromium`` / ``chromium-browser`` /
``google-chrome`` on ``PATH`` (Debian's package installs ``/usr/bin/chromium``).
"""

from __future__ import annotations

import os
import shutil

CHROMIUM_ENV = "CHROMIUM"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
# No sandbox (containers), no GPU, and nothing that phones home: the pages we open are local files or loopback.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_executable() -> str | None:
    """The Chromium to launch, or ``None`` when there is none (install it with ``apt-get install -y chromium``)."""
    given = os.environ.get(CHROMIUM_ENV)
    if given:
        return given if os.access(given, os.X_OK) else None
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None
