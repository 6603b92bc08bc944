#!/usr/bin/env bash
# LLM2Vec's whole recipe for one decoder on one GPU, with the paper's settings (configs/gpu/): MNTP (1,000 steps of
# 32 x 512 tokens), unsupervised SimCSE on its merged weights (1,000 steps of 128 Wikipedia sentences, the checkpoint
# chosen on STS-B dev), STS-B dev and test for Uni, Bi, Bi+MNTP and LLM2Vec, and word probes at every 3rd layer.
# Each training stage prints its tokens/s and peak memory (metrics.json); everything lands in OUT.
#
#   bash scripts/gpu_recipe.sh [OUT]          # OUT defaults to runs/gpu-recipe
#   MODEL=tiny-llama QUICK=1 bash scripts/gpu_recipe.sh /tmp/out   # the same chain in a minute on a CPU (the tests),
#                                     with the tiny settings of configs/gpu/tiny.yaml
#
# On an H100/H200, SmolLM2-135M should take minutes per stage; set MODEL to any decoder lab loads (a hub id with a
# network), and PYTHON to the interpreter (default .venv/bin/python).
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}" GRADIO_ANALYTICS_ENABLED=False
OUT=${1:-runs/gpu-recipe}
PY=${PYTHON:-.venv/bin/python}
MODEL=${MODEL:-smollm2-135m}
mntp=(--max_steps 1000)
simcse=()
sts=()
probe=(--layers 0:31:3)
if [ "${QUICK:-0}" = 1 ]; then  # tiny settings from configs/gpu/tiny.yaml (one source with the notebooks' LAB_QUICK=tiny)
  tiny() {  # one section of the file as command-line options, one word a line
    "$PY" -c 'import sys, yaml
for key, value in yaml.safe_load(open(sys.argv[1]))[sys.argv[2]].items():
    print(f"--{key}"); print(value)' configs/gpu/tiny.yaml "$1"
  }
  mapfile -t mntp < <(tiny mntp)
  mapfile -t simcse < <(tiny simcse)
  mapfile -t sts < <(tiny sts)
  mapfile -t probe < <(tiny probe)
  [ "${#mntp[@]}" -gt 0 ] && [ "${#probe[@]}" -gt 0 ] || { echo "could not read configs/gpu/tiny.yaml" >&2; exit 1; }
fi
mkdir -p "$OUT"
log() { printf '\n== %s (%s)\n' "$1" "$(date +%H:%M:%S)"; }

log "MNTP"
"$PY" -m lab train mntp --config configs/gpu/mntp-smollm2.yaml --model "$MODEL" --output_dir "$OUT/mntp" "${mntp[@]}"
log "SimCSE on Bi+MNTP"
"$PY" -m lab train simcse --config configs/gpu/simcse-smollm2.yaml --model "$MODEL" --adapters "$OUT/mntp" \
  --output_dir "$OUT/simcse" "${simcse[@]}"

log "STS-B dev and test"
"$PY" -m lab eval sts --model "$MODEL" --causal --pooling weighted_mean "${sts[@]}" --output "$OUT/sts/uni.json"
"$PY" -m lab eval sts --model "$MODEL" "${sts[@]}" --output "$OUT/sts/bi.json"
"$PY" -m lab eval sts --model "$MODEL" --adapters "$OUT/mntp" "${sts[@]}" --output "$OUT/sts/bi-mntp.json"
"$PY" -m lab eval sts --model "$MODEL" --adapters "$OUT/mntp" "$OUT/simcse" "${sts[@]}" --output "$OUT/sts/llm2vec.json"

log "Word probes (POS, chunk, NER)"
"$PY" -m lab probe --model "$MODEL" --task all --variants uni,bi,bi-mntp,bi-mntp-simcse \
  --adapter "mntp=$OUT/mntp" --adapter "mntp-simcse=$OUT/simcse" "${probe[@]}" --output-dir "$OUT/probing"

log "Summary"
"$PY" - "$OUT" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
for stage in ("mntp", "simcse"):
    m = json.loads((out / stage / "metrics.json").read_text())
    print(f"{stage}: {m['global_step']} steps, {m['train_tokens_per_second']:.0f} tokens/s, "
          f"peak memory {m.get('peak_memory_gb', float('nan')):.2f} GB, {m['train_runtime_s']:.0f} s")
for name in ("uni", "bi", "bi-mntp", "llm2vec"):
    r = json.loads((out / "sts" / f"{name}.json").read_text())["results"]
    print(f"STS-B {name}: " + ", ".join(f"{s} {100 * v['spearman']:.2f}" for s, v in r.items()))
PY
