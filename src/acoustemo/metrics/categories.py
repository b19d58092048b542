"""The synonym groups of the corpora's labels: a synthetic cue or an acted emotion -> its label words.

The corpus builders (:mod:`acoustemo.corpora.labels`) label a sample with a group's head word and a draw of its
synonyms; the primary-emotion accuracy (:mod:`acoustemo.metrics.primary`) counts a first label right when it is a
word of the gold category's group. Every word is a word of the emotion-wheel lexicon (``format.csv``); the
lexicon has no word "neutral", so neutral material is ``calm`` and its synonyms.
"""

from __future__ import annotations

# cue (synthetic manipulation) -> synonym group; the first word is always emitted.
CUE_LABELS: dict[str, tuple[str, ...]] = {
    "control": ("calm", "relaxed", "composed", "at ease"),
    "tremor": ("anxious", "nervous", "worried", "apprehensive", "uneasy", "jittery"),
    "pitch_up": ("excited", "surprised", "astonished", "enthusiastic", "elated"),
    "pitch_down": ("sad", "gloomy", "dejected", "downhearted", "melancholy"),
    "rate_fast": ("impatient", "hurried", "agitated", "restless"),
    "rate_slow": ("tired", "weary", "bored", "drained", "lethargic"),
    "loud_burst": ("angry", "annoyed", "irritated", "furious", "frustrated"),
    "whisper": ("fearful", "afraid", "scared", "cautious", "timid"),
    "breathy": ("tender", "gentle", "affectionate", "vulnerable"),
    # positive words said with flat, slow, low prosody (section 4.6's sarcasm case)
    "sarcasm": ("sarcastic", "ironic", "contemptuous", "disappointed", "annoyed"),
}

# acted emotion of RAVDESS / EmoDB metadata.csv -> synonym group
EMOTION_LABELS: dict[str, tuple[str, ...]] = {
    "neutral": ("calm", "composed", "at ease"),
    "calm": ("calm", "relaxed", "peaceful", "serene"),
    "happy": ("happy", "joyful", "cheerful", "delighted"),
    "happiness": ("happy", "joyful", "cheerful", "delighted"),
    "sad": ("sad", "unhappy", "sorrowful", "gloomy"),
    "sadness": ("sad", "unhappy", "sorrowful", "gloomy"),
    "angry": ("angry", "furious", "irritated", "annoyed"),
    "anger": ("angry", "furious", "irritated", "annoyed"),
    "fearful": ("fearful", "afraid", "scared", "anxious"),
    "fear": ("fearful", "afraid", "scared", "anxious"),
    "disgust": ("disgusted", "repulsed", "revolted"),
    "surprised": ("surprised", "astonished", "amazed", "startled"),
    "boredom": ("bored", "weary", "indifferent", "apathetic"),
}

# the words of no emotion: neutral and calm material, and the synthetic corpus's control utterances
NEUTRAL_WORDS: frozenset[str] = frozenset(EMOTION_LABELS["neutral"] + EMOTION_LABELS["calm"] + CUE_LABELS["control"])
