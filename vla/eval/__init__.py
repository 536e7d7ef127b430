"""Evaluation in the LIBERO simulator: ``vla eval --policy CHECKPOINT --suite libero_object``."""
