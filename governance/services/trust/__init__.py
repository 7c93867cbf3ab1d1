"""Trust: verified people (codes, sessions), roster roles, the audit trail and request events."""
