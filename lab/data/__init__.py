"""Data for training and evaluation: text corpora, tokenisation and chunking."""
