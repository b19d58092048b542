"""Feature cache: frozen-encoder features per media file as safetensors; ``acoustemo extract`` fills it."""

from .store import CachedFeatures, Entry, FeatureCache, content_hash, encoder_key

__all__ = ["CachedFeatures", "Entry", "FeatureCache", "content_hash", "encoder_key"]
