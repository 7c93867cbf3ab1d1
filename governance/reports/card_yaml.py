"""Cards (and other governed YAML) from files: a safe loader that refuses repeated keys, and
errors that say where."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import yaml

from governance.domain.cards import ModelCard, parse_card
from governance.domain.errors import InvalidInput, MalformedCard

# libyaml's parser when PyYAML was built with it: ten times faster on a card, which every
# registration parses; the constructor (and so the checks below) stays PyYAML's safe one.
_SAFE_BASE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _CardLoader(_SAFE_BASE):  # type: ignore[misc, valid-type]
    """A safe loader that refuses a key given twice, which PyYAML would silently overwrite."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        """Build a mapping, raising a marked error on the first repeated key."""
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # '<<' merges are flattened by the base class; explicit keys override
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, Hashable):
                continue  # the base constructor reports unhashable keys itself
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _at(mark: Any) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}"


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """The parser's complaint with where it was found and, if known, where the construct began."""
    problem = getattr(exc, "problem", None) or str(exc)
    mark, context = getattr(exc, "problem_mark", None), getattr(exc, "context", None)
    text = f"{_at(mark)}: {problem}" if mark else problem
    context_mark = getattr(exc, "context_mark", None)
    if context and context_mark:
        text += f" ({context} at {_at(context_mark)})"
    return text


def load_yaml_mapping(text: str, what: str, error: type[InvalidInput]) -> dict[Any, Any]:
    """Parse YAML that must be a mapping; `error` says `malformed WHAT YAML: ...` and where."""
    try:
        data = yaml.load(text, Loader=_CardLoader)
    except yaml.YAMLError as exc:
        raise error(f"malformed {what} YAML: {_yaml_problem(exc)}") from None
    if data is None:
        raise error(f"malformed {what} YAML: the document is empty")
    if not isinstance(data, dict):
        raise error(
            f"malformed {what} YAML: expected a mapping of fields, got {type(data).__name__}"
        )
    return data


def load_card_yaml(text: str) -> ModelCard:
    """Parse a YAML model card, raising MalformedCard for bad YAML, non-mappings or bad fields."""
    return parse_card(load_yaml_mapping(text, "model card", MalformedCard))
