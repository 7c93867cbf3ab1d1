"""`governance compliance ...`: a model's provider-written compliance document (compliance.yaml).

The document states what no record holds (the provider, the intended purpose in the Act's
sense, the standards applied, the declaration of conformity); it is registered and versioned
like a card, its digest in the trail.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from governance.cli.context import console, current_actor, governance, now
from governance.domain.compliance_document import ComplianceDocument, InvalidComplianceDocument
from governance.domain.errors import InvalidInput
from governance.reports.compliance_yaml import dump_compliance_yaml, load_compliance_yaml
from governance.services.registry import compliance_documents

app = typer.Typer(
    help="EU AI Act technical documentation: the provider's compliance document.",
    no_args_is_help=True,
)


def load_document_file(path: Path) -> ComplianceDocument:
    """Read a compliance.yaml file; InvalidComplianceDocument names the file and the problem."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read compliance document {path}: {exc.strerror}") from None
    # The file's name, not its path: served, the path is the server's copy of the upload.
    try:
        return load_compliance_yaml(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise InvalidComplianceDocument(f"{path.name}: not UTF-8 text") from None
    except InvalidComplianceDocument as exc:
        raise InvalidComplianceDocument(f"{path.name}: {exc}") from None


@app.command("document")
def document(
    name: Annotated[str, typer.Argument(help="the registered model")],
    file: Annotated[Path, typer.Argument(help="compliance.yaml")],
) -> None:
    """Register a new revision of a model's compliance document (as the logged-in person)."""
    gov = governance()
    by = current_actor(gov).name
    parsed = load_document_file(file)
    rev = compliance_documents.register_document(gov, name, parsed, actor=by, now=now())
    console.print(f"{name} compliance document revision {rev.revision} (digest {rev.digest[:12]})")


@app.command("document-show")
def document_show(
    name: Annotated[str, typer.Argument(help="the registered model")],
    revision: Annotated[int | None, typer.Option(help="an older revision")] = None,
) -> None:
    """Print a model's compliance document (the latest revision, or --revision N) as YAML."""
    rev = compliance_documents.document_revision(governance(), name, revision)
    digest = compliance_documents.stored_document_digest(rev)
    # Comments, so that the output is itself a compliance.yaml to edit and register again.
    print(f"# {name} compliance document revision {rev.revision}")
    print(f"# digest {digest}")
    if rev.digest != digest:
        # Only a writer behind the service's back makes them differ; the content is shown.
        print(f"# the stored digest column says {rev.digest}: run `governance audit verify`")
    print(f"# registered by {rev.created_by} at {rev.created_at:%Y-%m-%d %H:%M:%S} UTC")
    print(dump_compliance_yaml(rev.document), end="")
