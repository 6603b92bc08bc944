#!/usr/bin/env bash
# The whole test suite, set-up included: lint, format check, then pytest (notebooks, app and browser tests too).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --browser
export HF_HUB_OFFLINE=1 GRADIO_ANALYTICS_ENABLED=False
.venv/bin/ruff check lab tests app.py bench scripts
.venv/bin/ruff format --check lab tests app.py bench scripts
.venv/bin/python -m pytest "$@"
