"""A client key's scope: which routes and endpoints it opens, and the names it refuses."""

from __future__ import annotations

import pytest

from governance.domain.clients import check_app_name, check_routes, scope_problem
from governance.domain.errors import InvalidInput

ROUTES = ("predict", "outcomes")


def test_a_key_opens_its_routes_on_its_endpoints_only():
    assert scope_problem("app", ("churn-api",), ROUTES, "predict", "churn-api") == ""
    assert scope_problem("app", ("churn-api",), ROUTES, "outcomes", None) == ""
    assert scope_problem("app", ("*",), ROUTES, "predict", "any-api") == ""
    assert scope_problem("app", ("churn-api",), ROUTES, "predict", "other") == (
        "the client key of app is scoped to the endpoint(s) churn-api, not other"
    )
    assert scope_problem("app", ("churn-api",), ROUTES, "prompts", None) == (
        "the client key of app may call the route(s) predict, outcomes, not prompts"
    )
    # Prompts are served by no endpoint: a prompts key is scoped by its route alone.
    assert scope_problem("app", (), ("prompts",), "prompts", None) == ""


def test_routes_come_back_in_canonical_order_and_bad_ones_are_named():
    assert check_routes(["prompts", "predict", "predict"]) == ("predict", "prompts")
    with pytest.raises(InvalidInput, match=r"^unknown route\(s\) admin, train: a client key"):
        check_routes(["train", "predict", "admin"])
    with pytest.raises(InvalidInput, match=r"^name at least one route"):
        check_routes([])


@pytest.mark.parametrize("name", ["", "Checkout", "ck_0123456789abcdef", "-x", "a" * 65, "a b"])
def test_an_app_name_is_lower_case_and_never_looks_like_a_key_id(name):
    with pytest.raises(InvalidInput, match=r"^client application name .* is not valid"):
        check_app_name(name)
    assert check_app_name("checkout-web.v2") == "checkout-web.v2"
