"""Errors of the template language: syntax errors carry a location, render errors name the value."""

from __future__ import annotations

from sqlsync.dialects.exceptions import RenderError


class TemplateError(Exception):
    """Base class of every template error."""


class TemplateSyntaxError(TemplateError):
    """A template that cannot be compiled, with the 1-based line and column where it went wrong."""

    def __init__(self, message: str, line: int, column: int, name: str | None = None) -> None:
        self.message = message
        self.line = line
        self.column = column
        self.name = name
        where = f"{name}: " if name else ""
        super().__init__(f"{where}line {line}, column {column}: {message}")


__all__ = ["RenderError", "TemplateError", "TemplateSyntaxError"]
