"""lung_fm_robustness
"""

__version__ = "0.1"
