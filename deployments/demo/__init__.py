"""`make demo` as chapters, one module per story; `python -m deployments.demo` runs them."""
