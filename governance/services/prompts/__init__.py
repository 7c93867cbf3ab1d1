"""Prompts: registry, prompt gate, prompt promotion and canary, and LLM version evaluation."""
