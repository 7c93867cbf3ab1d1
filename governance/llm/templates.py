"""Prompt templates in Jinja2's sandbox: parse, list variables, refuse escapes, render."""

from __future__ import annotations

from functools import lru_cache

from jinja2 import StrictUndefined, TemplateSyntaxError, meta, nodes
from jinja2.exceptions import SecurityError, TemplateError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment

from governance.domain.errors import InvalidInput, InvalidTemplate
from governance.domain.prompts import MAX_TEMPLATE_CHARS

# Autoescape stays off: the output is a prompt, not HTML. StrictUndefined makes a missing
# variable an error instead of an empty string slipped into what the model reads.
_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
# Filters that reach attributes by name: the sandbox checks them at render time only.
_ATTRIBUTE_FILTERS = frozenset({"attr", "map", "selectattr", "rejectattr", "sort", "groupby"})
# What a value unsuited to the template raises while rendering: a string where the template
# does arithmetic or reads an attribute, a mapping filter given a string, a zero divisor.
_VALUE_ERRORS = (UndefinedError, TypeError, ValueError, ArithmeticError, AttributeError)
# The environment has no loader (a prompt is one self-contained text), so these never render.
_LOADING_NODES = {
    nodes.Include: "include",
    nodes.Extends: "extends",
    nodes.Import: "import",
    nodes.FromImport: "import",
}


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


def _never_renders(tree: nodes.Template) -> str | None:
    """Why the template fails whatever its values are, from its tree; None if it may render."""
    loads = sorted({_LOADING_NODES[type(n)] for n in tree.find_all(tuple(_LOADING_NODES))})
    if loads:
        return (
            f"template includes, imports or extends another template ({', '.join(loads)}): "
            "a prompt template must be self-contained"
        )
    # Jinja resolves filters when compiling but tests only when rendering.
    unknown = sorted({n.name for n in tree.find_all(nodes.Test) if n.name not in _ENV.tests})
    if unknown:
        return f"template uses unknown test(s) {', '.join(unknown)}"
    return None


def check_template(template: str) -> set[str]:
    """The variables a template uses; InvalidTemplate if it cannot render or escapes."""
    tree = _parse(template)
    unsafe = _unsafe_names(tree)
    if unsafe:
        raise InvalidTemplate(
            f"template reaches for unsafe attribute(s) {', '.join(sorted(set(unsafe)))}: "
            "the sandbox refuses them"
        )
    problem = _never_renders(tree)
    if problem:
        raise InvalidTemplate(problem)
    try:
        compiled = _ENV.from_string(template)
    except TemplateSyntaxError as exc:  # e.g. an unknown filter, found when compiling
        raise InvalidTemplate(
            f"template does not compile: line {exc.lineno}: {exc.message}"
        ) from None
    used = meta.find_undeclared_variables(tree)
    _trial_render(compiled, used)
    return used


def _trial_render(compiled, used: set[str]) -> None:
    """Render with a placeholder for every variable, to find escapes built at render time."""
    try:
        compiled.render({name: "x" for name in used})
    except SecurityError as exc:
        raise InvalidTemplate(f"template escapes the sandbox: {exc}") from None
    except _VALUE_ERRORS:
        # The placeholder is not the kind of value the template expects (`{{ n + 1 }}`,
        # `{{ user.name }}`): real values are checked when rendering, as InvalidInput.
        pass
    except TemplateError as exc:  # a failure of the template itself, not of its values
        raise InvalidTemplate(f"template cannot render: {exc}") from None


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
    except _VALUE_ERRORS as exc:
        raise InvalidInput(f"cannot render: {type(exc).__name__}: {exc}") from None
