"""Loading causal LMs and embedders from hub ids, local folders or packaged aliases."""
