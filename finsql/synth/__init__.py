"""Synthetic training pairs drawn from a database alone: profile, templates, phrasing, execution checks."""
