"""The Jinja2 environments every document renders with: Markdown and HTML, from `templates/`."""

from __future__ import annotations

from typing import Any

import jinja2


def markdown_cell(value: Any) -> str:
    """Text as one Markdown table cell: pipes escaped, line breaks flattened."""
    # a pipe or a line break inside a cell would end the cell or the row
    return " ".join(str(value).replace("|", "\\|").split())


def markdown_text(value: Any) -> str:
    """Text for Markdown with angle brackets neutralised."""
    # Markdown viewers pass raw HTML through, so angle brackets from records are neutralised
    return str(value).replace("<", "&lt;").replace(">", "&gt;")


def _environment(**options: Any) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("governance.reports", "templates"),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        **options,
    )
    env.filters["cell"] = markdown_cell
    return env


MARKDOWN = _environment(autoescape=False, finalize=markdown_text)
# autoescape is on so that markup typed into a card or a record is shown as text, never run
HTML = _environment(autoescape=True)
