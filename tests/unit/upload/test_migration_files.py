from __future__ import annotations

import pytest

from services.upload.migrations.runner import MigrationError, bundled_migrations, parse_migrations


def test_bundled_migrations_are_numbered_uniquely_in_order() -> None:
    migrations = bundled_migrations()
    versions = [m.version for m in migrations]
    assert versions == sorted(set(versions)) and versions[0] == 1
    assert {"read_model", "api_keys", "uploads"} <= {m.name for m in migrations}


def test_duplicates_and_bad_names_are_refused_gaps_allowed() -> None:
    with pytest.raises(MigrationError, match="unique"):
        parse_migrations({"001_a.sql": "", "001_b.sql": ""})
    with pytest.raises(MigrationError, match="unique"):
        parse_migrations({"000_a.sql": ""})
    assert [m.version for m in parse_migrations({"001_a.sql": "", "003_c.sql": ""})] == [1, 3]
    with pytest.raises(MigrationError, match="NNN_name"):
        parse_migrations({"1_a.sql": ""})
    assert [m.name for m in parse_migrations({"002_b.sql": "", "001_a.sql": "", "x.txt": ""})] == [
        "a",
        "b",
    ]


def test_checksum_follows_the_text() -> None:
    (a,) = parse_migrations({"001_a.sql": "CREATE TABLE t ()"})
    (b,) = parse_migrations({"001_a.sql": "CREATE TABLE t (x int)"})
    assert a.checksum != b.checksum
