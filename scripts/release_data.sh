#!/usr/bin/env bash
# Build the training and evaluation data of the shipped model (configs/small-release.yaml) from the
# corpora folder (default ../shared/data: RAVDESS actors 1-20, EmoDB) with the project's own commands.
#
#   scripts/release_data.sh [SHARED_DATA] [OUT]       (make release-data)
#
# OUT/ravdess          dialogues, 40 per speaker: one emotional clip among neutral/calm ones, or all one emotion
# OUT/ravdess-single   single clips, 60 per speaker (what many users give the model)
# OUT/emodb            dialogues, 40 per speaker
# OUT/synth            600 synthetic cue dialogues (espeak-ng)
# OUT/cache            Whisper tiny.en + prosody features (the model; the probe baseline reads their Whisper columns)
# OUT/*-unseen*        with UNSEEN_DATA: RAVDESS actors 21-24 and EmoDB speakers 08-16, test sets only
# OUT/{train,validation}.jsonl   the corpora merged (speaker-disjoint splits of each corpus kept)
# OUT/train+augmented.jsonl       with AUGMENT_COPIES=N: the training set and N augmented copies of it
# Every step resumes: finished corpora are kept, cached features are not recomputed.
set -euo pipefail
SHARED=${1:-../shared/data}
OUT=${2:-data/release}
ACOUSTEMO=${ACOUSTEMO:-acoustemo}
mkdir -p "$OUT"
build() {  # name, then the corpus command's arguments
  local name=$1; shift
  if [ -s "$OUT/$name/test.jsonl" ] && head -n1 "$OUT/$name/test.jsonl" | grep -q '"utterances": \[{[^]]*"labels"'; then
    echo "$OUT/$name: already built"
    return
  fi
  if [ -e "$OUT/$name" ]; then  # built before utterances carried their own labels: the same audio, new manifests
    echo "$OUT/$name: rebuilding (manifests without per-utterance labels); cached features are kept"
    rm -rf "$OUT/$name"
  fi
  "$ACOUSTEMO" "$@" --out "$OUT/$name" --quiet
}
build ravdess corpus ravdess --root "$SHARED/ravdess" --dialogues-per-speaker 40
build ravdess-single corpus ravdess --root "$SHARED/ravdess" --dialogues-per-speaker 60 --min-utterances 1 \
  --max-utterances 1 --single-emotion-fraction 1.0
build emodb corpus emodb --root "$SHARED/emodb" --dialogues-per-speaker 40
build synth synth --num 600 --seed 0
# UNSEEN_DATA (optional): a folder with ravdess-21-24/ (RAVDESS Actor_21..Actor_24, original file names) and
# emodb/ (the full EmoDB: wav/SSTTTEv.wav); test sets of voices no choice was made on (benchmarks/release_eval.py)
UNSEEN=()
if [ -n "${UNSEEN_DATA:-}" ]; then
  build ravdess-unseen corpus ravdess --root "$UNSEEN_DATA/ravdess-21-24" --test-speakers 21,22,23,24 \
    --dialogues-per-speaker 40
  build ravdess-unseen-single corpus ravdess --root "$UNSEEN_DATA/ravdess-21-24" --test-speakers 21,22,23,24 \
    --every-clip
  build emodb-unseen corpus emodb --root "$UNSEEN_DATA/emodb" --test-speakers 8,9,10,11,12,13,14,15,16 \
    --dialogues-per-speaker 40
  build emodb-unseen-single corpus emodb --root "$UNSEEN_DATA/emodb" --test-speakers 8,9,10,11,12,13,14,15,16 \
    --every-clip
  UNSEEN=(ravdess-unseen ravdess-unseen-single emodb-unseen emodb-unseen-single)
fi
for corpus in ravdess ravdess-single emodb synth "${UNSEEN[@]}"; do
  for split in train validation test; do
    [ -s "$OUT/$corpus/$split.jsonl" ] || continue
    "$ACOUSTEMO" extract --manifest "$OUT/$corpus/$split.jsonl" --cache "$OUT/cache" --audio whisper_prosody \
      --visual none
  done
done
"$ACOUSTEMO" merge --out "$OUT/train.jsonl" ravdess="$OUT/ravdess/train.jsonl" \
  ravdess-single="$OUT/ravdess-single/train.jsonl" emodb="$OUT/emodb/train.jsonl" synth="$OUT/synth/train.jsonl"
"$ACOUSTEMO" merge --out "$OUT/validation.jsonl" ravdess="$OUT/ravdess/validation.jsonl" \
  ravdess-single="$OUT/ravdess-single/validation.jsonl" synth="$OUT/synth/validation.jsonl"
# AUGMENT_COPIES=N (default 0: none): N augmented copies of the training set (acoustemo augment), their features,
# and OUT/train+augmented.jsonl (the clean and the augmented samples; docs/generalisation.md)
if [ "${AUGMENT_COPIES:-0}" -gt 0 ]; then
  "$ACOUSTEMO" augment --manifest "$OUT/train.jsonl" --out "$OUT/augmented" --copies "$AUGMENT_COPIES" --quiet
  "$ACOUSTEMO" extract --manifest "$OUT/augmented/train.jsonl" --cache "$OUT/cache" --audio whisper_prosody \
    --visual none
  "$ACOUSTEMO" merge --keep-ids --out "$OUT/train+augmented.jsonl" "$OUT/train.jsonl" "$OUT/augmented/train.jsonl"
fi
echo "release data -> $OUT"
