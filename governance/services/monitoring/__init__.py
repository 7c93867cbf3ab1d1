"""Monitoring: reference samples, batches and windows, the retirement audit and its reviews."""
