"""The hostile corpus (tests/data) through the vendor's templates, on the dialects no server runs for here:
sqlglot's tokenizer for each must read every rendered literal back as exactly the value, and the statement
must have the same shape (token types) as with harmless values: no value ended a literal or added a token.
The databases that run here get the same corpus for real (tests/integration)."""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot.tokens import TokenType

from sqlsync.dialects import Dialect, HiveDialect, MSSQLDialect, OracleDialect
from sqlsync.template import compile_template
from testkit import hostile_values

STRINGS = {TokenType.STRING, TokenType.NATIONAL_STRING}
# The vendor's examples (Altcraft, static segment sync) with '' literals, the form every dialect reads.
VENDOR = {
    "profiles_added": "INSERT INTO mysegment (segId, clientId, updated) VALUES {for $index, $lead = $batch}"
    "({segment_id}, '{$lead.CustomID}', CURRENT_TIMESTAMP){autocomma}{end}",
    "profiles_removed": 'DELETE FROM mysegment WHERE segId = {segment_id} AND clientId IN ({batch_in "CustomID"})',
    "segment_upserted": "UPDATE segments SET name = '{segment_name}' WHERE segment_id = {segment_id}",
}
DIALECTS = [
    pytest.param(MSSQLDialect(), "tsql", id="mssql"),
    pytest.param(OracleDialect(), "oracle", id="oracle"),
    pytest.param(HiveDialect(), "hive", id="hive"),
]


def read(sql: str, grammar: str) -> tuple[list[str], list[str]]:
    """(the string literals' values, the shape: each token's type, strings as one kind)."""
    tokens = sqlglot.tokenize(sql, read=grammar)
    values = [token.text for token in tokens if token.token_type in STRINGS]
    shape = ["string" if token.token_type in STRINGS else token.token_type.name for token in tokens]
    return values, shape


@pytest.mark.parametrize(("dialect", "grammar"), DIALECTS)
@pytest.mark.parametrize("template", ["profiles_added", "profiles_removed"])
def test_the_corpus_as_profile_fields(dialect: Dialect, grammar: str, template: str) -> None:
    corpus = hostile_values()
    compiled = compile_template(VENDOR[template], dialect)
    [statement] = compiled.render({"segment_id": 17}, [{"CustomID": value} for value in corpus])
    [harmless] = compiled.render({"segment_id": 17}, [{"CustomID": "x"} for _ in corpus])
    values, shape = read(statement, grammar)
    assert values == corpus
    assert shape == read(harmless, grammar)[1]


@pytest.mark.parametrize(("dialect", "grammar"), DIALECTS)
def test_the_corpus_as_segment_names(dialect: Dialect, grammar: str) -> None:
    compiled = compile_template(VENDOR["segment_upserted"], dialect)
    harmless = read(compiled.render({"segment_id": 17, "segment_name": "x"}, [])[0], grammar)[1]
    for name in hostile_values():
        [statement] = compiled.render({"segment_id": 17, "segment_name": name}, [])
        assert read(statement, grammar) == ([name], harmless)
