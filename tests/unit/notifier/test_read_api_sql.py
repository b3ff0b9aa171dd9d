"""The notifier reads the upload service's data only through the read side's interface:
every SQL statement in its code selects from the `read_api_*` views, with their documented
columns, and names none of the tables behind them."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import services.notifier
from services.common.read_api import VIEWS
from services.notifier.adapters import api_keys, read_model

NOTIFIER = Path(services.notifier.__file__).parent
PRIVATE_TABLES = (
    "images",
    "processing_tasks",
    "applied_events",
    "api_keys",
    "image_deletions",
    "uploads",
    "purge_requests",
    "schema_migrations",
)
_ALIASED = re.compile(
    r"\b(?:FROM|JOIN)\s+([A-Za-z_][A-Za-z0-9_]*)(?:\s+(?!WHERE\b|ORDER\b|LIMIT\b)([a-z])\b)?",
    re.IGNORECASE,
)
_RELATION = re.compile(r"\b(?:FROM|JOIN|INTO|UPDATE)\s+([A-Za-z_][A-Za-z0-9_.]*)", re.IGNORECASE)


def sql_strings() -> list[str]:
    found: list[str] = []
    for path in NOTIFIER.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and re.search(r"\bSELECT\b", node.value)
                and _RELATION.search(node.value)
            ):
                found.append(node.value)
    return found


def test_every_relation_the_notifier_reads_is_a_view_of_the_interface() -> None:
    statements = sql_strings()
    assert len(statements) >= 3  # the read model's and the keys' queries are seen
    relations = {name for sql in statements for name in _RELATION.findall(sql)}
    assert relations and relations <= set(VIEWS), relations - set(VIEWS)


def test_no_private_table_is_named_anywhere_in_the_notifiers_sql() -> None:
    for sql in sql_strings():
        for table in PRIVATE_TABLES:
            assert not re.search(rf"(?<![A-Za-z0-9_]){table}(?![A-Za-z0-9_])", sql), (table, sql)


def test_the_columns_it_uses_are_documented_columns_of_the_views() -> None:
    queries = [*read_model.QUERIES, api_keys.OWNER_FOR_DIGEST]
    for sql in queries:
        aliases = dict((a or v, v) for v, a in _ALIASED.findall(sql))
        if len(aliases) == 1:
            (view,) = aliases.values()
            selected = sql.split("SELECT", 1)[1].split("FROM", 1)[0]
            columns = {c.strip().split("::")[0].split(" AS ")[0] for c in selected.split(",")}
            assert columns <= set(VIEWS[view]), columns - set(VIEWS[view])
        for alias, column in re.findall(r"\b([a-z])\.([a-z_]+)", sql):
            assert column in VIEWS[aliases[alias]], (alias, column, sql)


def test_the_check_would_catch_a_private_table() -> None:
    assert _RELATION.findall("SELECT id FROM images i JOIN processing_tasks t") == [
        "images",
        "processing_tasks",
    ]
