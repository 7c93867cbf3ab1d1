"""Promotion: approval requests and their evidence, decisions, the gate, and carrying out."""
