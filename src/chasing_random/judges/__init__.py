"""LLM judges behind one interface: a local causal LM or an OpenAI-compatible endpoint."""
