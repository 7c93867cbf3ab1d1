"""The web console: server-rendered pages over the same services as the CLI (an entrypoint).

What a page module uses:
- `web_session.viewer` (a dependency: the session's VerifiedActor, or a redirect to
  /login?next=...), `web_session.roles_of(request, actor)`, `web_session.gov_of(request)`,
  `web_session.now()` (the clock tests hold still);
- `csrf.require_csrf` (a dependency for every POST; `csrf.csrf_token(gov, session_token)`);
- `forms.form_fields(request)` (the urlencoded form as a dict);
- `render.render(request, template, status=200, **context)` and
  `render.error_page(request, status, title, message)`; `render.NAV` lists the header's links;
- `app.router` / `app.mount(app)`: a page module's router is included in `mount`.
GovernanceErrors raised on console paths become HTML pages with their HTTP status.
"""
