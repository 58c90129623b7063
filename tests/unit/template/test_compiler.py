"""The compiled renderer: what each placeholder position renders to, per dialect, and statement splitting."""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest

from sqlsync.dialects import MySQLDialect, PostgreSQLDialect, SQLiteDialect, dialect_for
from sqlsync.template import RenderError, TemplateSyntaxError, compile_template
from sqlsync.template.compiler import Compiler
from sqlsync.template.parser import parse
from testkit import hostile_values

PG = PostgreSQLDialect()
MY = MySQLDialect()
CONTEXT = {
    "segment_id": 17,
    "segment_name": "VIP's",
    "event_id": "e-1",
    "event_time": "2026-11-22T10:00:00+00:00",
}


def render(source: str, batch: list[dict[str, Any]], dialect: Any = PG) -> list[str]:
    return compile_template(source, dialect).render(CONTEXT, batch)


def test_vendor_insert_renders_one_statement_for_the_batch_on_mysql() -> None:
    source = (
        "INSERT INTO mysegment (segId, clientId, updated)\nVALUES\n{for $index, $lead = $batch}\n"
        '({segment_id}, "{$lead.CustomID}", NOW()){autocomma}\n{end}\nON DUPLICATE KEY UPDATE\nupdated = NOW();'
    )
    statements = render(source, [{"CustomID": "c-1"}, {"CustomID": 'a"b\\c'}, {"CustomID": "O'Brien"}], MY)
    assert statements == [
        "INSERT INTO mysegment (segId, clientId, updated)\nVALUES\n\n(17, 'c-1', NOW()),\n\n"
        "(17, 'a\\\"b\\\\c', NOW()),\n\n(17, 'O\\'Brien', NOW())\n\nON DUPLICATE KEY UPDATE\nupdated = NOW()"
    ]


def test_bare_placeholders_render_typed_literals() -> None:
    batch = [{"s": "it's", "i": 42, "f": 1.5, "neg": -3, "b": True, "n": None}]
    assert render(
        "SELECT {$lead.s}, {$lead.i}, {$lead.f}, {$lead.neg}, {$lead.b}, {$lead.n}, {$lead.missing}", batch
    ) == ["SELECT 'it''s', 42, 1.5, (-3), TRUE, NULL, NULL"]
    assert render("SELECT {$lead.b}", [{"b": False}], SQLiteDialect()) == ["SELECT 0"]


def test_a_placeholder_that_is_a_whole_literal_renders_as_one_and_null_when_missing() -> None:
    assert render("SELECT '{$lead.a}', '{$lead.b}', '{$lead.n}'", [{"a": "x'y", "b": 7}]) == [
        "SELECT 'x''y', '7', NULL"
    ]


def test_a_placeholder_inside_a_literal_is_escaped_for_that_literal() -> None:
    assert render("SELECT 'id-{$lead.a}-{$lead.missing}'", [{"a": "x'y"}]) == ["SELECT 'id-x''y-'"]
    # PostgreSQL E'' literals take backslash escapes; plain ones do not.
    assert render("SELECT E'a{$lead.a}', 'b{$lead.a}'", [{"a": "\\'"}]) == ["SELECT E'a\\\\''', 'b\\'''"]
    # A doubled quote right after the placeholder continues the literal: it is not a whole literal.
    assert render("SELECT '{$lead.a}''s'", [{"a": "x"}]) == ["SELECT 'x''s'"]


def test_mysql_double_quoted_strings_follow_sql_mode() -> None:
    assert render('SELECT "v-{$lead.a}"', [{"a": 'q"\x00'}], MY) == ['SELECT "v-q\\"\\0"']
    no_backslash = MySQLDialect(no_backslash_escapes=True)
    assert render('SELECT "v-{$lead.a}"', [{"a": 'q"\\'}], no_backslash) == ['SELECT "v-q""\\"']
    ansi = MySQLDialect(ansi_quotes=True)
    assert render('SELECT "{$lead.a}" FROM t', [{"a": "col_1"}], ansi) == ['SELECT "col_1" FROM t']
    with pytest.raises(RenderError, match="not a safe identifier"):
        render('SELECT "{$lead.a}" FROM t', [{"a": 'x" FROM t; --'}], ansi)


def test_identifier_positions_take_only_safe_names() -> None:
    assert render('SELECT * FROM "seg_{segment_id}"', []) == ['SELECT * FROM "seg_17"']
    with pytest.raises(RenderError, match="not a safe identifier"):
        render('SELECT * FROM "{$lead.t}"', [{"t": 'a"; DROP TABLE x; --'}])


@pytest.mark.parametrize(
    ("source", "dialect", "fragment"),
    [
        ("SELECT 1 -- {$lead.a}\n", PG, "inside a comment"),
        ("SELECT 1 /* {$lead.a} */", PG, "inside a comment"),
        ("SELECT 1 # {$lead.a}\n", MY, "inside a comment"),
        ("SELECT $$ {$lead.a} $$", PG, "dollar-quoted"),
        ("SELECT '{$lead.a}", PG, "ends inside a string"),
        ("{for $lead = $batch}'{$lead.a}{end}'", PG, "loop body leaves a string open"),
        ("{if $lead.a}'{else}x{end}", PG, "leaves a string open"),
        ("SELECT {autocomma}", PG, "outside a {for} loop"),
        ("SELECT '{batch_in \"a\"}'", PG, "cannot go inside a string"),
        ("SELECT {$lead.a}", PG, None),
        ("{for $l = $batch}{$lead.a}{end}", PG, "undefined variable $lead outside {for}"),
    ],
)
def test_unsafe_positions_are_refused_when_compiling(source: str, dialect: Any, fragment: str | None) -> None:
    if fragment is None:
        compile_template(source, dialect)
        return
    with pytest.raises(TemplateSyntaxError) as caught:
        compile_template(source, dialect)
    assert fragment in caught.value.message


def test_mysql_dash_comment_needs_a_space() -> None:
    # '--1' is minus minus one in MySQL, not a comment; a value after it is code.
    assert render("SELECT 1 --{$lead.a}", [{"a": 2}], MY) == ["SELECT 1 --2"]


def test_statements_split_at_top_level_semicolons_only() -> None:
    source = "DELETE FROM t WHERE s = {segment_id}; INSERT INTO t VALUES ('a;b', {$lead.x}); -- done\n;"
    assert render(source, [{"x": "1;2"}]) == [
        "DELETE FROM t WHERE s = 17",
        "INSERT INTO t VALUES ('a;b', '1;2')",
    ]


def test_modes_batch_per_lead_and_once() -> None:
    batch = [{"_id": "p1"}, {"_id": "p2"}]
    assert compile_template("SELECT {$lead._id}", PG).mode == "per_lead"
    assert render("SELECT {$lead._id}, {$index}", batch) == ["SELECT 'p1', 0", "SELECT 'p2', 1"]
    assert compile_template("DELETE FROM t WHERE s = {segment_id}", PG).mode == "once"
    assert render("DELETE FROM t WHERE s = {segment_id}", batch) == ["DELETE FROM t WHERE s = 17"]
    assert compile_template('DELETE FROM t WHERE id IN ({batch_in "_id"})', PG).mode == "batch"


def test_batch_in_renders_literals_and_null_for_an_empty_batch() -> None:
    source = 'DELETE FROM t WHERE id IN ({batch_in "a.b"})'
    assert render(source, [{"a": {"b": "x'"}}, {"a": {"b": 5}}, {}]) == ["DELETE FROM t WHERE id IN ('x''', 5, NULL)"]
    assert render(source, []) == ["DELETE FROM t WHERE id IN (NULL)"]


def test_loops_conditions_and_filters() -> None:
    source = (
        "INSERT INTO t VALUES {for $i, $lead = $batch}({$i}, "
        "{if $lead.age >= 18}{$lead.name|upper}{elseif $lead.age}{$lead.name|lower}"
        '{else}{$lead.name|default "anon"}{end}, '
        "{$lead.n|int}){autocomma}{end}"
    )
    batch = [
        {"age": 30, "name": "Ann", "n": " 7 "},
        {"age": 5, "name": "Bob", "n": 2.9},
        {"name": "", "n": None},
    ]
    assert render(source, batch) == ["INSERT INTO t VALUES (0, 'ANN', 7),(1, 'bob', 2),(2, 'anon', NULL)"]
    with pytest.raises(RenderError, match="not an integer"):
        render("SELECT {$lead.n|int}", [{"n": "seven"}])


def test_comparisons_between_different_types_are_false_not_errors() -> None:
    source = "{if $lead.a > 3}big{else}small{end}"
    assert render(source, [{"a": "x"}, {"a": None}, {"a": 4}]) == ["small", "small", "big"]


def test_values_the_target_cannot_hold_are_refused() -> None:
    with pytest.raises(RenderError, match="U\\+0000"):
        render("SELECT {$lead.a}", [{"a": "nul\x00"}])
    with pytest.raises(RenderError, match="U\\+D800"):
        render("SELECT {$lead.a}", [{"a": "\ud800"}], MY)
    with pytest.raises(RenderError, match="not a number"):
        render("SELECT {$lead.a}", [{"a": float("nan")}])
    # MySQL writes NUL as an escape, so it is fine there.
    assert render("SELECT {$lead.a}", [{"a": "a\x00"}], MY) == ["SELECT 'a\\0'"]


def test_compiled_templates_are_cached_per_dialect_settings() -> None:
    source = "SELECT {$lead.a}"
    assert compile_template(source, dialect_for("mysql")) is compile_template(source, MySQLDialect())
    assert compile_template(source, MySQLDialect(no_backslash_escapes=True)) is not compile_template(source, MY)


@pytest.mark.parametrize(
    "field",
    ["a{b}:c!d", "a#b", "a\\b", 'q"""q', "x'y", "%s"],
)
def test_any_field_name_and_text_survive_the_generated_code(field: str) -> None:
    # Rows are built by f-strings or '%' formatting: braces, quotes, backslashes and '%' in the template
    # text or in field names must come out as written.
    name = field.replace("\\", "\\\\").replace('"', '\\"')
    source = f'{{for $i, $l = $batch}}{{}}%\\\n{{$l["{name}"]}}{{autocomma}}é {{$i}}{{end}}'
    assert render(source, [{field: "v"}, {field: None}]) == ["{}%\\\n'v',é 0{}%\\\nNULLé 1"]


def test_a_loop_with_statements_inside_stays_a_loop() -> None:
    source = "{for $l = $batch}DELETE FROM t WHERE id = {$l.id};{end}"
    assert render(source, [{"id": 1}, {"id": "x"}]) == ["DELETE FROM t WHERE id = 1", "DELETE FROM t WHERE id = 'x'"]


@pytest.mark.parametrize(
    "source",
    [
        "SELECT E{$lead.v}",
        "SELECT N{$lead.v}",
        'SELECT x{batch_in "v"}',
        "SELECT 1 {if $lead.a}E{end}{$lead.v}",
        "SELECT {for $l = $batch}{$l.v} AS a{end}",
        "SELECT E{if $lead.a}{$lead.v}{end}",
    ],
)
def test_a_value_right_after_a_word_is_refused(source: str) -> None:
    # PostgreSQL: E'\' would leave the literal open.
    with pytest.raises(TemplateSyntaxError, match="put a space before this value"):
        render(source, [{"v": "\\"}])


def test_a_value_after_a_space_or_a_bracket_is_fine() -> None:
    assert render("SELECT E ({$lead.v}), {if true}({$lead.v}){end}", [{"v": "\\"}]) == ["SELECT E ('\\'), ('\\')"]


@pytest.mark.parametrize(
    ("source", "reads_id"),
    [
        ("INSERT INTO t VALUES {for $i, $lead = $batch}({$lead.a}){autocomma}{end}", False),
        ('DELETE FROM t WHERE a IN ({batch_in "a"})', False),
        ("UPDATE t SET a = {$lead.a} WHERE b = {$lead.b.c}", False),
        ("INSERT INTO t VALUES {for $i, $lead = $batch}{for $j, $x = $lead.list}({$x}){autocomma}{end}{end}", False),
        ("SELECT {segment_id}", False),
        ("INSERT INTO t VALUES {for $i, $lead = $batch}({$lead._id}){autocomma}{end}", True),
        ('DELETE FROM t WHERE a IN ({batch_in "_id"})', True),
        ("UPDATE t SET a = {$lead._id}", True),
        ("UPDATE t SET a = {$lead._id.deeper}", True),
        ("{if $lead}UPDATE t SET a = 1{end}", True),  # the whole lead
        ("{if $batch}DELETE FROM t{end}", True),  # the whole batch
        ("{for $i, $lead = $batch}{if $batch}SELECT {$lead.a}{end}{end}", True),
    ],
)
def test_a_template_says_whether_it_can_read_a_profiles_id(source: str, reads_id: bool) -> None:
    # GIVEN leads as the worker makes them (the id as _id) and the same profiles' fields alone
    fields = [{"a": "x", "b": {"c": 1}, "list": [1, 2]}, {"a": "y", "_id": "own", "list": []}]
    with_ids = [{"_id": f"p{n}", **lead} for n, lead in enumerate(fields)]
    compiled = compile_template(source, PG)

    # THEN a template that cannot read the id says so, and renders the same from the fields alone (the
    # worker then skips the copies)
    assert compiled.reads_lead_id is reads_id
    if not reads_id:
        assert compiled.render(CONTEXT, fields) == compiled.render(CONTEXT, with_ids)


def _random_template(rng: random.Random) -> str:
    """A loop over the batch whose row mixes bare and quoted values, filters, {if}, a nested loop and commas."""
    pieces = []
    for _ in range(rng.randint(1, 6)):
        value = rng.choice(["$lead.a", "$lead.b", "$lead.n.x", "$lead._id", "$i", "$segment_name"])
        value += rng.choice(["", "", "", "|lower", "|upper", "|int", '|default "x\'y{}#%\\\\"', "|default $lead.b"])
        pieces.append(
            rng.choice(
                [
                    f", {{{value}}}",
                    f" '{{{value}}}'",
                    f" 'pre{{{value}}}post'",
                    f' "{{{value}}}"',
                    " -- c\n",
                    " /* } { */ ",
                    " '%' ",
                    f"{{if $lead.a == \"x\"}} {{{value}}}{{else}} '{{{value}}}'{{end}}",
                    " {for $j, $t = $lead.l}({$t}, '{$t}', {$j}){autocomma}{end}",
                    "{autocomma}",
                ]
            )
        )
    return "INSERT INTO t VALUES {for $i, $lead = $batch}(" + "".join(pieces) + "){end}"


@pytest.mark.parametrize("seed", range(6))
def test_a_compiled_row_renders_as_the_dialects_own_literal_functions(seed: int) -> None:
    # GIVEN random templates and batches of hostile text mixed with other values, in every dialect
    rng = random.Random(seed)
    corpus = hostile_values()
    others: list[object] = [None, 0, -7, 1.5, True, {"a": "b'c"}, ["x", "y'"], "", 10**20]
    dialects = [MY, MySQLDialect(no_backslash_escapes=True), MySQLDialect(ansi_quotes=True), PG, SQLiteDialect()]
    dialects += [dialect_for(name) for name in ("mssql", "oracle", "clickhouse", "hive")]
    for _ in range(12):
        source = _random_template(rng)
        batches = [
            [
                {
                    "a": rng.choice(corpus),
                    "b": rng.choice(corpus),
                    "n": {"x": rng.choice(corpus)},
                    "l": [rng.choice(corpus)],
                }
            ]
            * rng.randint(1, 3),  # all text: the rows' fast path
            [
                {key: rng.choice(corpus + others) for key in ("a", "b", "_id") if rng.random() < 0.8}
                | {"l": [rng.choice(corpus + others)]}
                for _ in range(rng.randint(1, 4))
            ],
        ]
        context = {"segment_name": rng.choice(corpus)}
        for dialect in dialects:
            try:
                compiled = Compiler(dialect).compile(parse(source), source)
            except TemplateSyntaxError:
                continue  # a value this dialect refuses where it stands
            # THEN each renders what the dialect's own literal functions render, with no inlining at all
            plain = copy.copy(dialect)
            plain.inline_string_body = lambda var: None  # type: ignore[method-assign]
            reference = Compiler(plain).compile(parse(source), source)
            for batch in batches:
                assert _outcome(compiled, context, batch) == _outcome(reference, context, batch), (source, batch)


def _outcome(compiled: Any, context: dict[str, Any], batch: list[dict[str, Any]]) -> object:
    try:
        return compiled.render(context, batch)
    except RenderError:
        return RenderError  # which value is named first may differ: the same profile fails either way
