"""Verb functions over the governance store: one transaction each, time passed in as `now`."""
