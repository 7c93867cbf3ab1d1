"""Rollout: routing specs and endpoints, strategies, experiments, rollbacks and withdrawal."""
