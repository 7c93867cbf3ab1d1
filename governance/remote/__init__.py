"""The thin client: the `governance` command a person runs against a governance server.

It imports neither the services nor scipy, scikit-learn or prefect: only the standard
library and click. It holds the server's URL and the person's session token, nothing else.
"""
