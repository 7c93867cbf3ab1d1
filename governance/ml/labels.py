"""Whether a label is one a model can be scored against: a class it has, or a number."""

from __future__ import annotations

import math
from typing import Any

from governance.ml.profile import plain


def label_problem(classes: Any, label: Any) -> str | None:
    """Why a model with these classes (None: a regressor) cannot have `label`; else None."""
    if classes is None:
        return None if _number(label) is not None else "is not numeric: the model is a regressor"
    known = sorted({plain(c) for c in classes}, key=str)
    numeric = all(isinstance(c, int | float) and not isinstance(c, bool) for c in known)
    value = _number(label) if numeric else label
    if value is None:
        return f"is not numeric: the model is a classifier with classes {known}"
    if value not in known:
        return f"is not one of the model's classes {known}"
    return None


def _number(value: Any) -> float | None:
    """`value` as a finite number, or None (text is not a number: "1" never equals 1)."""
    if isinstance(value, bool | str | bytes):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
