"""`make up`: a local Prefect server with its UI, serving the governance deployments."""

from __future__ import annotations

import os
from pathlib import Path

from deployments.local_stack import LocalStack


def main() -> None:
    """Start the stack and keep it running until Ctrl-C."""
    port = int(os.environ.get("PREFECT_PORT", "4200"))
    stack = LocalStack(home=Path(".governance/stack").resolve(), port=port)
    try:
        stack.start_server()
        stack.start_serve()
        print(f"Prefect UI:  {stack.ui_url}")
        print(f"Prefect API: {stack.api_url}")
        print("In another shell:")
        print(f"  export PREFECT_API_URL={stack.api_url} PREFECT_UI_URL={stack.ui_url}")
        print("  governance login YOU --code CODE")
        print("  governance promote NAME VERSION --dataset NAME")
        print("Logs in .governance/stack/. Ctrl-C stops the server and the deployments.")
        for process in stack.processes:
            process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
