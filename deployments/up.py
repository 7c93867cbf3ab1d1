"""`make up`: a local Prefect server with its UI, the deployments, the gateway and the governance
server."""

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
    server_port = int(os.environ.get("GOVERNANCE_SERVER_PORT", "8400"))
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
        stack.start_governance_server(server_port)
        print(f"Prefect UI:  {stack.ui_url}")
        print(f"Prefect API: {stack.api_url}")
        print(f"Gateway:     {gateway} (OIP v2 at /v2, metrics at /metrics)")
        print(f"Governance:  http://127.0.0.1:{server_port} (the governance server)")
        print(f"Console:     http://127.0.0.1:{server_port}/ (log in with a one-time code)")
        print("In another shell (a person needs only the server's URL):")
        print(f"  export GOVERNANCE_SERVER_URL=http://127.0.0.1:{server_port}")
        print("  governance login YOU --code CODE")
        print("  governance promote NAME VERSION --dataset NAME")
        print("Logs in .governance/stack/. Ctrl-C stops the servers, deployments and gateway.")
        for process in stack.processes:
            process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
