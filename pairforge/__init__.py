"""pairforge: SFT data in, preference pairs out (chosen = the data's answer, rejected = a weak model's)."""

__version__ = "0.1.0"
