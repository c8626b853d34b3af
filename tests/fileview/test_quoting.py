"""The two ways a file view writes a user's text into SQL: a string literal (paths, options of
DuckDB's table functions) and a quoted identifier (relations and columns). Read back by a real
DuckDB, each gives the text it was given, whatever quotes it holds."""

from __future__ import annotations

import duckdb
import pytest

from provgraph.fileview.tables import sql_literal
from provgraph.fileview.why.running import sql_identifier

AWKWARD = ["plain", "it's", "''", 'say "hi"', "a\\b", "select", "ü; DROP TABLE x; --", ""]


@pytest.fixture
def con():
    with duckdb.connect() as connection:
        yield connection


@pytest.mark.parametrize("text", AWKWARD)
def test_a_literal_reads_back_as_the_same_text(con, text):
    assert con.execute(f"SELECT {sql_literal(text)}").fetchone() == (text,)


@pytest.mark.parametrize("text", [t for t in AWKWARD if t])
def test_an_identifier_names_exactly_that_column(con, text):
    con.execute(f"CREATE TABLE {sql_identifier(text)} AS SELECT 1 AS {sql_identifier(text)}")
    [(table,)] = con.execute("SELECT table_name FROM duckdb_tables()").fetchall()
    described = con.execute(f"SELECT * FROM {sql_identifier(text)}")
    assert (table, [d[0] for d in described.description]) == (text, [text])
    assert described.fetchone() == (1,)
