"""Adapters to the libraries the prompt gate uses: Jinja2, rapidfuzz, jsonschema, httpx."""
