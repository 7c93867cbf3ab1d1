"""Deterministic callables for callable prompt targets (`llm_callables:support_bot`)."""

from __future__ import annotations

from typing import Any


def last_user(messages: list[dict[str, Any]]) -> str:
    """The last user message's content ('' when there is none)."""
    return next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")


def support_bot(messages: list[dict[str, Any]], **params: Any) -> str:
    """A support answer that depends only on the last user message."""
    question = last_user(messages)
    if "refund" in question.lower():
        return "Refunds are processed within 5 business days."
    return f"Thanks for asking about: {question}"


def support_bot_with_usage(messages: list[dict[str, Any]], **params: Any) -> dict[str, Any]:
    """support_bot's answer with word counts as token usage."""
    text = support_bot(messages, **params)
    prompt = sum(len(m["content"].split()) for m in messages)
    return {"text": text, "prompt_tokens": prompt, "completion_tokens": len(text.split())}


def broken_bot(messages: list[dict[str, Any]], **params: Any) -> str:
    """A target that always fails."""
    raise ValueError("model unavailable")


def silent_bot(messages: list[dict[str, Any]], **params: Any) -> None:
    """A target that answers nothing usable."""
    return None
