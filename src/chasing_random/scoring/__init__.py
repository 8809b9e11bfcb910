"""Score tables computed once and reused by every strategy: response losses (IFD) and embeddings."""
