"""The governance server: the one door that people and their CLIs use (FastAPI + uvicorn)."""
