"""Prompt templates in Jinja2's sandbox: parse, list variables, refuse escapes, render."""

from __future__ import annotations

from functools import lru_cache

from jinja2 import StrictUndefined, TemplateSyntaxError, meta, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment

from governance.domain.errors import InvalidInput, InvalidTemplate
from governance.domain.prompts import MAX_TEMPLATE_CHARS

# Autoescape stays off: the output is a prompt, not HTML. StrictUndefined makes a missing
# variable an error instead of an empty string slipped into what the model reads.
_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
# Filters that reach attributes by name: the sandbox checks them at render time only.
_ATTRIBUTE_FILTERS = frozenset({"attr", "map", "selectattr", "rejectattr", "sort", "groupby"})


def _parse(template: str) -> nodes.Template:
    """The template's syntax tree, or InvalidTemplate naming the line and the problem."""
    if len(template) > MAX_TEMPLATE_CHARS:
        raise InvalidTemplate(f"template is longer than {MAX_TEMPLATE_CHARS} characters")
    if not template.strip():
        raise InvalidTemplate("template is empty")
    try:
        return _ENV.parse(template)
    except TemplateSyntaxError as exc:
        raise InvalidTemplate(
            f"template does not parse: line {exc.lineno}: {exc.message}"
        ) from None


def _unsafe_names(tree: nodes.Template) -> list[str]:
    """Private or dunder names the template reaches for (`''.__class__`, `x['_y']`, attr())."""
    found = []
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter)):
        if isinstance(node, nodes.Getattr):
            name = node.attr
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            name = node.arg.value
        elif isinstance(node, nodes.Filter) and node.name in _ATTRIBUTE_FILTERS:
            name = next(
                (a.value for a in node.args if isinstance(a, nodes.Const)),
                next((k.value.value for k in node.kwargs if isinstance(k.value, nodes.Const)), ""),
            )
        else:
            continue
        if isinstance(name, str) and name.startswith("_"):
            found.append(name)
    return found


def check_template(template: str) -> set[str]:
    """The variables a template uses; InvalidTemplate if it does not parse or escapes."""
    tree = _parse(template)
    unsafe = _unsafe_names(tree)
    if unsafe:
        raise InvalidTemplate(
            f"template reaches for unsafe attribute(s) {', '.join(sorted(set(unsafe)))}: "
            "the sandbox refuses them"
        )
    used = meta.find_undeclared_variables(tree)
    try:
        # A trial render finds escapes the tree walk cannot see (names built at render time).
        _ENV.from_string(template).render({name: "x" for name in used})
    except SecurityError as exc:
        raise InvalidTemplate(f"template escapes the sandbox: {exc}") from None
    except Exception:  # placeholder values may not suit the template's logic
        pass
    return used


@lru_cache(maxsize=512)
def _compiled(template: str):
    """Compiled templates, cached by text: the gateway renders the same few very often."""
    return _ENV.from_string(template)


def render(template: str, variables: dict[str, object]) -> str:
    """Render in the sandbox; a missing value or a refused access is InvalidInput."""
    try:
        return _compiled(template).render(variables)
    except SecurityError as exc:
        raise InvalidTemplate(f"template escapes the sandbox: {exc}") from None
    except UndefinedError as exc:
        raise InvalidInput(f"cannot render: {exc.message}") from None
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise InvalidInput(f"cannot render: {type(exc).__name__}: {exc}") from None
