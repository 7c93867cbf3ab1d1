"""The baseline of bench/prompts.py: a bare FastAPI route doing the gateway's render, nothing else.

`GET /v1/prompts/{prompt_id}?targeting_key=K&var.NAME=value` renders one fixed template in
Jinja2's sandbox with the query's variables (`governance.llm.templates.render`, the function
the gateway calls) and answers the gateway's response fields and headers (the same ETag
function). What it leaves out is what the gateway adds: the prompt cache and its poller, the
query's validation, the variable check, the canary's variant choice and render log,
If-None-Match. Run in its own uvicorn process on 127.0.0.1 with the options `governance
serve` passes:

    python bench/_bare_prompt.py PORT SPEC_JSON   # SPEC_JSON: prompt_id, version, template, ...
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

VAR_PREFIX = "var."
CACHE_CONTROL = "private, max-age=1"  # what the gateway sends when nothing is logged


def bare_app(spec: dict):
    """The one-route app serving `spec` (the gateway's own answer for the production version)."""
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse

    from governance.llm.templates import render
    from governance.serving.prompt_routes import etag

    app = FastAPI()
    template, variables = spec["template"], list(spec["variables"])

    async def get_prompt(prompt_id: str, request: Request) -> JSONResponse:
        given = {
            name[len(VAR_PREFIX) :]: value
            for name, value in request.query_params.multi_items()
            if name.startswith(VAR_PREFIX)
        }
        rendered = render(template, given) if given else None
        tag = etag(prompt_id, spec["version"], "stable", template, rendered)
        body = {
            "prompt_id": prompt_id,
            "version": spec["version"],
            "variant": "stable",
            "template": template,
            "variables": variables,
            "rendered": rendered,
            "render_id": None,
            "etag": tag,
        }
        return JSONResponse(body, headers={"ETag": tag, "Cache-Control": CACHE_CONTROL})

    async def health() -> dict:
        return {"ready": True}

    # Real classes, not the strings `from __future__ import annotations` leaves: these names
    # are local, so FastAPI could not resolve the strings.
    get_prompt.__annotations__ = {"prompt_id": str, "request": Request, "return": JSONResponse}
    app.get("/v1/prompts/{prompt_id}")(get_prompt)
    app.get("/health")(health)
    return app


def main() -> None:
    """Serve the bare app on 127.0.0.1:PORT until interrupted (uvicorn, 1 process)."""
    import uvicorn

    port, spec_file = int(sys.argv[1]), Path(sys.argv[2])
    app = bare_app(json.loads(spec_file.read_text()))
    uvicorn.run(
        app, host="127.0.0.1", port=port, lifespan="on", log_level="warning", access_log=False
    )


if __name__ == "__main__":
    main()
