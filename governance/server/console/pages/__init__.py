"""The console's read pages: models, versions, endpoints, prompts, monitoring and compliance."""

from __future__ import annotations

from fastapi import APIRouter

from governance.server.console.pages import compliance, endpoints, models, monitoring, prompts

router = APIRouter()
for _page in (models, endpoints, prompts, monitoring, compliance):
    router.include_router(_page.router)
