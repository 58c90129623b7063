"""The syntax tree of a template. Every node keeps the location of its first character."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Node:
    line: int
    column: int


# Expressions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expr(Node):
    pass


@dataclass(frozen=True)
class Const(Expr):
    value: Any


@dataclass(frozen=True)
class Name(Expr):
    """A built-in value of the event: segment_id, segment_name, event_time..."""

    name: str


@dataclass(frozen=True)
class Var(Expr):
    """`$name.attr.attr`: a loop variable ($lead, $index) or $batch, with an optional attribute path."""

    name: str
    path: tuple[str, ...] = ()


@dataclass(frozen=True)
class ListExpr(Expr):
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Compare(Expr):
    op: str  # one of == != < > <= >= in
    left: Expr
    right: Expr


@dataclass(frozen=True)
class BoolOp(Expr):
    op: str  # and | or
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Not(Expr):
    operand: Expr


@dataclass(frozen=True)
class Filter(Expr):
    name: str
    operand: Expr
    args: tuple[Expr, ...] = ()


# Statements --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Text(Node):
    text: str


@dataclass(frozen=True)
class Output(Node):
    expr: Expr


@dataclass(frozen=True)
class AutoComma(Node):
    pass


@dataclass(frozen=True)
class BatchIn(Node):
    """`{batch_in "Field"}`: the field's literals over the batch, comma-separated."""

    path: tuple[str, ...]


@dataclass(frozen=True)
class For(Node):
    index_var: str | None
    item_var: str
    iterable: Expr
    body: tuple[Node, ...]


@dataclass(frozen=True)
class If(Node):
    branches: tuple[tuple[Expr, tuple[Node, ...]], ...]
    else_body: tuple[Node, ...] = field(default=())


@dataclass(frozen=True)
class Template(Node):
    body: tuple[Node, ...]
