"""The template parser: the Altcraft syntax it accepts, and errors that name line, column and cause."""

from __future__ import annotations

import pytest

from sqlsync.template import TemplateSyntaxError, nodes
from sqlsync.template.parser import parse

VENDOR_INSERT = """INSERT INTO mysegment (segId, clientId, updated)
VALUES
{for $index, $lead = $batch}
({segment_id}, "{$lead.CustomID}", NOW()){autocomma}
{end}
ON DUPLICATE KEY UPDATE
updated = NOW();"""


def test_vendor_insert_example_parses_into_a_loop_over_the_batch() -> None:
    template = parse(VENDOR_INSERT)
    loops = [node for node in template.body if isinstance(node, nodes.For)]
    assert len(loops) == 1
    loop = loops[0]
    assert (loop.index_var, loop.item_var) == ("index", "lead")
    assert loop.iterable == nodes.Var(3, 22, "batch")
    outputs = [node.expr for node in loop.body if isinstance(node, nodes.Output)]
    assert outputs == [nodes.Name(4, 3, "segment_id"), nodes.Var(4, 18, "lead", ("CustomID",))]
    assert any(isinstance(node, nodes.AutoComma) for node in loop.body)


def test_batch_in_takes_a_quoted_field_name() -> None:
    template = parse('DELETE FROM s WHERE id IN ({batch_in "CustomID"})')
    assert nodes.BatchIn(1, 28, ("CustomID",)) in template.body


def test_braces_that_do_not_open_a_tag_stay_text() -> None:
    template = parse("SELECT '{}', '{\"a\": 1}', '{ 1,2 }' {ldelim}x{rdelim}")
    assert "".join(node.text for node in template.body if isinstance(node, nodes.Text)) == (
        "SELECT '{}', '{\"a\": 1}', '{ 1,2 }' {x}"
    )


def test_conditions_with_elseif_else_and_filters() -> None:
    template = parse(
        '{if $lead.age >= 18 and not $lead.blocked}A{elseif $lead.tier in ["gold", "vip"]}B{else}C{end}'
        '{$lead.email|lower|default "none"}'
    )
    condition = template.body[0]
    assert isinstance(condition, nodes.If)
    assert len(condition.branches) == 2
    assert isinstance(condition.branches[0][0], nodes.BoolOp)
    assert condition.else_body == (nodes.Text(1, 89, "C"),)
    output = template.body[1]
    assert isinstance(output, nodes.Output)
    assert isinstance(output.expr, nodes.Filter) and output.expr.name == "default"


def test_nested_fields_and_bracketed_names() -> None:
    template = parse('{$lead.address.city}{$lead["first name"]}')
    assert [node.expr for node in template.body if isinstance(node, nodes.Output)] == [
        nodes.Var(1, 2, "lead", ("address", "city")),
        nodes.Var(1, 22, "lead", ("first name",)),
    ]


@pytest.mark.parametrize(
    ("source", "line", "column", "fragment"),
    [
        ("SELECT {segment_idd}", 1, 9, "unknown tag 'segment_idd'"),
        ("SELECT 1;\n{for $lead = $batch}x", 2, 22, "{for} opened at line 2, column 1 is never closed"),
        ("{if $lead.a = 1}x{end}", 1, 13, "'=' is not a comparison"),
        ("x {end}", 1, 4, "without an open {for} or {if}"),
        ("{$lead.}", 1, 8, "expected a field name after '.'"),
        ("{batch_in CustomID}", 1, 11, "a field name in double quotes"),
        ("{$lead.x|shout}", 1, 10, "unknown filter 'shout'"),
        ("{for $lead in $batch}{end}", 1, 12, "expected '=' as in {for $index, $lead = $batch}"),
        ("VALUES ({$lead.a", 1, 17, "unclosed tag"),
        ("{if $lead.a}x{else}y{else}z{end}", 1, 22, "'{else}' after {else}"),
    ],
)
def test_syntax_errors_name_line_column_and_cause(source: str, line: int, column: int, fragment: str) -> None:
    with pytest.raises(TemplateSyntaxError) as caught:
        parse(source, "profiles_added")
    error = caught.value
    assert (error.line, error.column) == (line, column), str(error)
    assert fragment in error.message
    assert str(error).startswith(f"profiles_added: line {line}, column {column}: ")
