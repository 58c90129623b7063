"""Errors of the dialects."""


class RenderError(ValueError):
    """A value the target cannot hold in that position (NUL for PostgreSQL, a lone surrogate, an unsafe
    identifier, NaN...). Raised instead of rendering something that would change the statement."""
