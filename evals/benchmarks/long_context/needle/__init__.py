"""Needle-in-a-haystack tests: contexts, scoring, heatmaps."""
