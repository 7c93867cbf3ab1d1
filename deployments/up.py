"""`make up`: a local Prefect server with its UI, the governance deployments and the gateway."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from deployments.local_stack import LocalStack


def main() -> None:
    """Start the stack and keep it running until Ctrl-C."""
    port = int(os.environ.get("PREFECT_PORT", "4200"))
    gateway_port = int(os.environ.get("GATEWAY_PORT", "8000"))
    gateway = f"http://127.0.0.1:{gateway_port}"
    stack = LocalStack(home=Path(".governance/stack").resolve(), port=port)
    # The blue/green smoke test in promote-model calls the gateway started here.
    os.environ.setdefault("GOVERNANCE_GATEWAY_URL", gateway)
    try:
        # The gateway serves from the governance database: create or upgrade it first
        # (idempotent: an initialised home is left as it is, its secret key kept).
        subprocess.run([sys.executable, "-m", "governance.cli", "init"], check=True)
        stack.start_server()
        stack.start_serve()
        stack.start_gateway(gateway_port)
        print(f"Prefect UI:  {stack.ui_url}")
        print(f"Prefect API: {stack.api_url}")
        print(f"Gateway:     {gateway} (OIP v2 at /v2, metrics at /metrics)")
        print("In another shell:")
        print(f"  export PREFECT_API_URL={stack.api_url} PREFECT_UI_URL={stack.ui_url}")
        print("  governance login YOU --code CODE")
        print("  governance promote NAME VERSION --dataset NAME")
        print("Logs in .governance/stack/. Ctrl-C stops the server, deployments and gateway.")
        for process in stack.processes:
            process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
