"""LoRA training runs on the bare decoder: shared config and Trainer pieces, and the MNTP objective (LLM2Vec step 2)."""
