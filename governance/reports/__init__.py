"""Documents rendered from governance records: model cards and their exports."""
