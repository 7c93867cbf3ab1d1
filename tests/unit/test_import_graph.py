"""The package's import graph: service contexts import one way, nothing imports in a cycle.

grimp reads every import statement, function-local ones included, so a cycle hidden by
importing inside a function is still a cycle here. Imports under `if TYPE_CHECKING:` are left
out: they never run.
"""

from __future__ import annotations

import sys

import grimp
import pytest

from governance.services.registry import stages
from governance.services.rollout import production

# Highest first: a context may import the ones below it, never one above.
CONTEXTS = ["compliance", "monitoring", "prompts", "promotion", "rollout", "registry", "trust"]
SERVICES = "governance.services"
# Entrypoints: only these may import prefect.
ENTRYPOINTS = ("flows", "governance.cli", "governance.server", "deployments")
STDLIB_AND_PYDANTIC = {"pydantic", "pydantic_core", "typing_extensions", "annotated_types"}


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    """The import graph of the package and the flows, with the third-party packages they use."""
    return grimp.build_graph(
        "governance",
        "flows",
        "deployments",
        include_external_packages=True,
        exclude_type_checking_imports=True,
    )


def cycles(graph: grimp.ImportGraph, prefix: str) -> list[list[str]]:
    """Strongly connected groups of more than one module under `prefix` (Tarjan's algorithm)."""
    nodes = sorted(m for m in graph.modules if m == prefix or m.startswith(prefix + "."))
    inside = set(nodes)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.find_modules_directly_imported_by(node) & inside):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in nodes:
        if node not in index:
            visit(node)
    return found


def importers_of(graph: grimp.ImportGraph, imported: str, prefix: str) -> set[str]:
    """Modules under `prefix` that import `imported` or one of its submodules directly."""
    targets = {m for m in graph.modules if m == imported or m.startswith(imported + ".")}
    return {
        m
        for target in targets
        for m in graph.find_modules_that_directly_import(target)
        if m == prefix or m.startswith(prefix + ".")
    }


def test_every_service_module_sits_in_a_context(graph):
    loose = {
        m for m in graph.modules if m.startswith(SERVICES + ".") and m.split(".")[2] not in CONTEXTS
    }
    assert loose == set()


def test_service_contexts_import_one_way(graph):
    illegal = graph.find_illegal_dependencies_for_layers(layers=CONTEXTS, containers={SERVICES})
    found = [
        f"{d.importer} -> {d.imported}: " + "; ".join(" -> ".join(r.chain) for r in d.routes)
        for d in illegal
    ]
    assert found == []


def test_a_context_that_imports_an_upper_one_is_named():
    # The check above must be able to fail: a registry module importing promotion is illegal.
    graph = grimp.ImportGraph()
    graph.add_module(SERVICES)
    for context in CONTEXTS:
        graph.add_module(f"{SERVICES}.{context}")
    graph.add_import(
        importer=f"{SERVICES}.registry.versions",
        imported=f"{SERVICES}.promotion.evidence",
    )
    illegal = graph.find_illegal_dependencies_for_layers(layers=CONTEXTS, containers={SERVICES})
    assert {(d.importer, d.imported) for d in illegal} == {
        (f"{SERVICES}.registry", f"{SERVICES}.promotion")
    }


def test_no_module_of_the_package_imports_in_a_cycle(graph):
    assert cycles(graph, "governance") == []
    assert cycles(graph, "flows") == []


def test_a_cycle_through_a_function_local_import_is_found():
    graph = grimp.ImportGraph()
    for name in ("a", "b", "c"):
        graph.add_module(f"pkg.{name}")
    graph.add_import(importer="pkg.a", imported="pkg.b")
    graph.add_import(importer="pkg.b", imported="pkg.c")
    graph.add_import(importer="pkg.c", imported="pkg.a")  # e.g. inside a function
    assert cycles(graph, "pkg") == [["pkg.a", "pkg.b", "pkg.c"]]


def test_only_entrypoints_import_prefect(graph):
    users = importers_of(graph, "prefect", "governance") | importers_of(
        graph, "prefect_dask", "governance"
    )
    assert {m for m in users if not m.startswith(ENTRYPOINTS)} == set()


def test_the_domain_imports_only_the_standard_library_and_pydantic(graph):
    external = {
        imported.split(".")[0]
        for module in graph.modules
        if module.startswith("governance.domain")
        for imported in graph.find_modules_directly_imported_by(module)
        if not imported.startswith("governance")
    }
    third_party = {name for name in external if name not in sys.stdlib_module_names}
    assert third_party - STDLIB_AND_PYDANTIC == set()
    inner = {
        imported
        for module in graph.modules
        if module.startswith("governance.domain")
        for imported in graph.find_modules_directly_imported_by(module)
        if imported.startswith("governance") and not imported.startswith("governance.domain")
    }
    assert inner == set()


@pytest.mark.parametrize("adapter", ["governance.ml", "governance.llm", "governance.reports"])
def test_adapters_take_values_not_repositories(graph, adapter):
    for layer in ("governance.store", "governance.services", "governance.bootstrap"):
        assert importers_of(graph, layer, adapter) == set(), f"{adapter} imports {layer}"


PRODUCTION_MOVE = "governance.services.rollout.production"
STAGE_MOVE = "governance.services.registry.stages"
# The governed paths that check their approval, break-glass, rollback window or retirement
# review before they move a version: the only modules that may import the production move.
GOVERNED_MOVERS = {
    "governance.services.promotion.completion",
    "governance.services.promotion.break_glass",
    "governance.services.rollout.rollback",
    "governance.services.monitoring.retirement_review",
}


def movers(graph: grimp.ImportGraph) -> set[str]:
    """Modules of the package, flows or deployments that import the production move."""
    users = set()
    for prefix in ("governance", "flows", "deployments"):
        users |= importers_of(graph, PRODUCTION_MOVE, prefix)
    return users


def stage_movers(graph: grimp.ImportGraph) -> set[str]:
    """Modules whose import of the stages module names the unchecked stage move."""
    return {
        importer
        for importer in graph.find_modules_that_directly_import(STAGE_MOVE)
        for detail in graph.get_import_details(importer=importer, imported=STAGE_MOVE)
        if "_move_in" in detail["line_contents"]
    }


def test_the_moves_into_production_are_not_public():
    # Public names are what the package offers its callers; these take any actor and check
    # no approval, so they are private and reached only through the governed paths.
    public = {
        f"{module.__name__}.{name}"
        for module in (production, stages)
        for name in vars(module)
        if not name.startswith("_") and ("transition_in" in name or "move_in" in name)
    }
    assert public == set()
    assert {"follow_production"} & set(vars(production)) == set()


def test_only_the_governed_paths_import_the_production_move(graph):
    assert movers(graph) == GOVERNED_MOVERS
    assert stage_movers(graph) == {PRODUCTION_MOVE}


def test_a_command_that_imports_the_production_move_is_named():
    # The check above must be able to fail: a CLI module importing the move is refused.
    graph = grimp.ImportGraph()
    for module in (PRODUCTION_MOVE, "governance.cli.models", *GOVERNED_MOVERS):
        graph.add_module(module)
    for module in GOVERNED_MOVERS:
        graph.add_import(importer=module, imported=PRODUCTION_MOVE)
    graph.add_import(importer="governance.cli.models", imported=PRODUCTION_MOVE)
    assert movers(graph) - GOVERNED_MOVERS == {"governance.cli.models"}
