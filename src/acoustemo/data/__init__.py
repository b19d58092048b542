"""Manifests, corpus builders and batch collation."""
