"""Reading the console's forms (urlencoded; the console posts no files)."""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import Request

from governance.domain.errors import InvalidInput

MAX_FORM_BYTES = 64 * 1024


async def form_fields(request: Request) -> dict[str, str]:
    """The form's fields, the first value of each; InvalidInput for other bodies."""
    cached = getattr(request.state, "form_fields", None)
    if cached is not None:
        return cached
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw = await request.body()
    if not raw:
        fields: dict[str, str] = {}
    elif content_type != "application/x-www-form-urlencoded":
        raise InvalidInput("the console accepts forms sent as application/x-www-form-urlencoded")
    elif len(raw) > MAX_FORM_BYTES:
        raise InvalidInput(f"the form is over {MAX_FORM_BYTES} bytes")
    else:
        parsed = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
        fields = {name: values[0] for name, values in parsed.items()}
    request.state.form_fields = fields
    return fields
