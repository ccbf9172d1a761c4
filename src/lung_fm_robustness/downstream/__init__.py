"""Downstream robustness: do models trained on the reference reconstruction keep their
performance, and their predictions, under every other reconstruction?"""
