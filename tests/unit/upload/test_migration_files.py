from __future__ import annotations

import pytest

from services.upload.migrations.runner import MigrationError, bundled_migrations, parse_migrations


def test_bundled_migrations_are_numbered_uniquely_from_1() -> None:
    migrations = bundled_migrations()
    versions = [m.version for m in migrations]
    assert versions[0] == 1 and versions == sorted(set(versions))
    assert {"read_model", "api_keys", "uploads"} <= {m.name for m in migrations}


def test_duplicates_a_late_start_and_bad_names_are_refused() -> None:
    with pytest.raises(MigrationError, match="without duplicates"):
        parse_migrations({"001_a.sql": "", "001_b.sql": ""})
    with pytest.raises(MigrationError, match="start at 1"):
        parse_migrations({"002_b.sql": ""})
    # A number reserved for a migration still to come may be missing.
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
