"""`python -m governance.cli`: the same as the `governance` command."""

from governance.cli import main

main()
