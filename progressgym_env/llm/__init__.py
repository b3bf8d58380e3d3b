"""LLM backend: real Hugging Face causal LMs as agent models, human proxies and simulated humans."""
