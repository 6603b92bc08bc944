"""Word-level probing (POS, chunking, NER on CoNLL-2003) of every layer of LLM2Vec variants, and the paper's section 4
analyses: causal-vs-bidirectional similarity per layer and the future-token separation test."""
