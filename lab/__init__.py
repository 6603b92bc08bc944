"""LLM2Vec Lab: turn decoder-only LLMs into text encoders (bidirectional attention, MNTP, SimCSE), and study them."""

from lab.bidirectional import BidirectionalityError, make_bidirectional, verify_bidirectional
from lab.encoder import EncoderConfig, LLM2Vec

__all__ = ["LLM2Vec", "EncoderConfig", "make_bidirectional", "verify_bidirectional", "BidirectionalityError"]
__version__ = "0.1.0"
