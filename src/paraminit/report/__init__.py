"""Renderers: turn records into terminal tables or HTML. Nothing here computes results."""
