"""How the flows are run locally: the demo, `make up`, and the serve entrypoint."""
