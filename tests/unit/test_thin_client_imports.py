"""The thin client starts fast: it loads no service, database, ML or Prefect module."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("scipy", "sklearn", "prefect", "sqlalchemy", "pandas", "evidently", "fastapi")


def test_the_console_script_with_a_server_loads_only_the_thin_client(tmp_path):
    probe = (
        "import json, sys\n"
        "import governance.entry\n"
        "from governance.remote import cli, http, settings\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('governance')"
        f" or m.split('.')[0] in {HEAVY!r})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    loaded = json.loads(out.stdout)
    assert loaded == [
        "governance",
        "governance.entry",
        "governance.remote",
        "governance.remote.cli",
        "governance.remote.http",
        "governance.remote.settings",
    ]
