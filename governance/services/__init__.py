"""Verb functions over the governance store: one transaction each, time passed in as `now`.

One subpackage per context. Contexts import one way, from the top of this list down;
a piece two contexts share sits in the lower one:

    monitoring   reference samples, ingested batches, windows, the retirement audit and reviews
    prompts      the prompt registry, prompt gate, prompt promotion and canary, LLM evaluation
    promotion    approval requests, evidence, decisions, the evaluation gate, break-glass,
                 request tokens, carrying out an approved promotion
    rollout      routing specs, endpoints, strategies, experiments, rollbacks, withdrawal,
                 the watchdog, and production moves (a stage move that routing follows)
    registry     models, versions, cards, stage moves, datasets, risk, artifact staging
    trust        identity (codes, sessions), roster roles, the audit trail and request events

tests/unit/test_import_graph.py holds the order and checks it.
"""
