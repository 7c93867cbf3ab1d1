"""Pure governance rules and value types: standard library and pydantic only."""
