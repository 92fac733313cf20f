"""The judge layer: a scorer with an injected, named model (see ``judge.py``)."""
