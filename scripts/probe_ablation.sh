#!/usr/bin/env bash
# The fast acoustic-branch ablation of docs/results.md: the four Table-2 variants of the release recipe's
# stage 1 (configs/small-release.yaml; Q-Formers + a label head, no LLM), 5 seeds each, trained and tested on
# one corpus at a time: the synthetic cue dialogues (test top-1 also per design: local, distractor, sarcasm,
# control) and the RAVDESS dialogues (one emotional utterance among neutral ones, or all one emotion).
#
#   scripts/probe_ablation.sh [DATA] [OUT]        DATA: built by `make release-data` (default data/release)
#   SEEDS=0,1,2 RECORDS=docs/probe-ablation scripts/probe_ablation.sh       fewer seeds; keep each finished run's
#                                                 record (scores, curves; no weights) in RECORDS/<corpus>
#
# The release recipe's stage 1 as the ablation was first run: sample labels only (no per-utterance loss, which the
# shipped model added later) and the LLM-stage setting of then (projection_init: random; stage 1 does not read
# it), so that added seeds and corpora compare with the finished runs.
# Full vs w/o utterance-aware Q-Former run first on both corpora, then the other two variants. Every finished
# run is kept (OUT/<corpus>/<variant>/seed-<s>/probe.json): start it again to resume or to add seeds.
set -euo pipefail
DATA=${1:-data/release}
OUT=${2:-runs/probe-ablation}
ACOUSTEMO=${ACOUSTEMO:-acoustemo}
SEEDS=${SEEDS:-0,1,2,3,4}
RECORDS=${RECORDS:-}
run() {  # corpus, variants, extra arguments
  local corpus=$1 variants=$2; shift 2
  if [[ -n "$RECORDS" ]]; then set -- "$@" --records "$RECORDS/$corpus"; fi
  "$ACOUSTEMO" ablate --probe --config configs/small-release.yaml --out "$OUT/$corpus" --variants "$variants" \
    --seeds "$SEEDS" --quiet --train.train_manifest="$DATA/$corpus/train.jsonl" \
    --train.validation_manifest="$DATA/$corpus/validation.jsonl" --train.test_manifest="$DATA/$corpus/test.jsonl" \
    --train.cache_dir="$DATA/cache" --model.utterance_answers=false --train.acoustic.utterance_weight=0 \
    --train.projection_init=random "$@"
}
run synth full,no_utterance --breakdown "$DATA/synth/cues.jsonl:design"
run ravdess full,no_utterance
run synth full,no_global,fixed,no_utterance --breakdown "$DATA/synth/cues.jsonl:design"
run ravdess full,no_global,fixed,no_utterance
