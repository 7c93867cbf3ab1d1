"""Registry: models, versions, cards, stage moves, evaluation datasets, risk and artifacts."""
