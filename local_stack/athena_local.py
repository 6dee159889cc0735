"""Athena's read of a Glue table, played on this machine: the table's definition read back from
the embedded Glue (what template.yaml deployed), its partition projection checked and applied
as Athena applies it, the projected objects fetched from the embedded S3, and DuckDB reading
them under the table's name, so that one SQL text runs here and on Athena.

What is reproduced: the columns and their types (Glue's names mapped to DuckDB's), the
partition key as a column filled from the object's key, the `date` projection (range, format,
interval; `NOW` is today in UTC), `storage.location.template`, and the files Athena would read
in a partition: its direct children, without those whose names start with `_` or `.`, gzip
decided by the `.gz` extension. `element_at(map, key)` is Athena's (the value, or NULL when the
key is absent); DuckDB's own returns a list. Only the Hive JSON SerDe is read (the copy's).
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import duckdb

HIVE_JSON_SERDE = "org.apache.hive.hcatalog.data.JsonSerDe"
_SCALARS = {
    "string": "VARCHAR",
    "varchar": "VARCHAR",
    "char": "VARCHAR",
    "bigint": "BIGINT",
    "int": "INTEGER",
    "integer": "INTEGER",
    "smallint": "SMALLINT",
    "tinyint": "TINYINT",
    "double": "DOUBLE",
    "float": "FLOAT",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
}
# Java DateTimeFormatter letters the projection formats use, as strftime.
_JAVA_FORMAT = {"yyyy": "%Y", "MM": "%m", "dd": "%d", "HH": "%H", "mm": "%M", "ss": "%S"}
_UNITS = {"DAYS": timedelta(days=1), "HOURS": timedelta(hours=1), "MINUTES": timedelta(minutes=1)}
# Athena's semantics for what DuckDB spells differently (docs/analytics.md says which).
MACROS = (
    "CREATE MACRO element_at(m, k) AS m[k]",
    "CREATE MACRO from_iso8601_timestamp(s) AS CAST(s AS TIMESTAMPTZ)",
)


class TableError(Exception):
    """The table cannot be read as Athena would (a projection Athena refuses, an unknown type)."""


@dataclass(frozen=True)
class DateProjection:
    """`projection.<key>.*` of a date-projected partition key."""

    key: str
    strftime: str
    start: datetime
    end: datetime | None  # None: NOW
    step: timedelta

    def value_of(self, text: str, now: datetime) -> datetime | None:
        """The instant a partition value stands for, or None when Athena would not project it."""
        try:
            moment = datetime.strptime(text, self.strftime).replace(tzinfo=UTC)
        except ValueError:
            return None
        if moment.strftime(self.strftime) != text:  # 2026-1-5 is not 2026-01-05
            return None
        end = self.end or now
        if not self.start <= moment <= end:
            return None
        return moment if (moment - self.start) % self.step == timedelta(0) else None


@dataclass(frozen=True)
class ProjectedTable:
    database: str
    name: str
    bucket: str
    location: str  # the table's key prefix, ending with "/"
    columns: tuple[tuple[str, str], ...]  # (name, Glue type), data columns then partition keys
    partition: DateProjection
    key_pattern: re.Pattern[str]  # an object key of a projected partition, as a direct child

    @property
    def data_columns(self) -> tuple[tuple[str, str], ...]:
        return tuple(c for c in self.columns if c[0] != self.partition.key)


@dataclass(frozen=True)
class ProjectedObject:
    key: str
    partition_value: str


def read_table(glue: Any, database: str, name: str) -> ProjectedTable:
    """The table as Athena would see it; TableError where Athena would refuse to query it."""
    table = glue.get_table(DatabaseName=database, Name=name)["Table"]
    storage = table["StorageDescriptor"]
    parameters = table.get("Parameters") or {}
    serde = (storage.get("SerdeInfo") or {}).get("SerializationLibrary")
    if serde != HIVE_JSON_SERDE:
        raise TableError(f"{database}.{name}: the local runner reads {HIVE_JSON_SERDE} only")
    location = urlparse(storage["Location"])
    if location.scheme != "s3" or not location.path.endswith("/"):
        raise TableError(f"{database}.{name}: Location must be s3://bucket/prefix/")
    if parameters.get("projection.enabled") != "true":
        raise TableError(f"{database}.{name}: the local runner needs partition projection")
    keys = table.get("PartitionKeys") or []
    if len(keys) != 1:
        raise TableError(f"{database}.{name}: the local runner reads one partition key")
    if keys[0]["Name"] in {c["Name"] for c in storage["Columns"]}:
        # Athena: HIVE_INVALID_METADATA ... Table descriptor contains duplicate columns
        raise TableError(f"{database}.{name}: {keys[0]['Name']} is both a column and a partition")
    projection = _date_projection(keys[0]["Name"], parameters)
    template = parameters.get("storage.location.template", "")
    placeholder = "${" + projection.key + "}"
    if template.count(placeholder) != 1 or not template.startswith(storage["Location"]):
        raise TableError(
            f"{database}.{name}: storage.location.template {template!r} must hold {placeholder} "
            f"once, under the Location {storage['Location']}"
        )
    directory = template.removeprefix(f"s3://{location.netloc}/")
    before, after = directory.split(placeholder)
    if not after.endswith("/"):
        raise TableError(f"{database}.{name}: storage.location.template must end with /")
    key_pattern = re.compile(re.escape(before) + r"(?P<value>[^/]+)" + re.escape(after) + r"[^/]+")
    return ProjectedTable(
        database=database,
        name=name,
        bucket=location.netloc,
        location=location.path.lstrip("/"),
        columns=tuple((c["Name"], c["Type"]) for c in [*storage["Columns"], *keys]),
        partition=projection,
        key_pattern=key_pattern,
    )


def _date_projection(key: str, parameters: dict[str, str]) -> DateProjection:
    def setting(name: str, default: str | None = None) -> str:
        value = parameters.get(f"projection.{key}.{name}", default)
        if value is None:
            raise TableError(f"projection.{key}.{name} is missing")
        return value

    if setting("type") != "date":
        raise TableError(f"projection.{key}.type: the local runner projects dates only")
    java = setting("format")
    strftime = re.sub("|".join(_JAVA_FORMAT), lambda m: _JAVA_FORMAT[m.group(0)], java)
    if re.search(r"[A-Za-z]", re.sub(r"%[YmdHMS]", "", strftime)):
        raise TableError(f"projection.{key}.format {java!r}: a letter the local runner lacks")
    first, _, last = setting("range").partition(",")
    unit = setting("interval.unit", "DAYS")
    if unit not in _UNITS:
        raise TableError(f"projection.{key}.interval.unit {unit!r} is not supported here")

    def bound(text: str) -> datetime:
        try:
            return datetime.strptime(text.strip(), strftime).replace(tzinfo=UTC)
        except ValueError:
            raise TableError(
                f"projection.{key}.range {text!r} does not match the format {java!r}"
            ) from None

    return DateProjection(
        key=key,
        strftime=strftime,
        start=bound(first),
        end=None if last.strip() == "NOW" else bound(last),
        step=int(setting("interval", "1")) * _UNITS[unit],
    )


def projected_objects(s3: Any, table: ProjectedTable, now: datetime) -> list[ProjectedObject]:
    """The objects Athena reads for a query over every projected partition (none: [])."""
    found: list[ProjectedObject] = []
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=table.bucket, Prefix=table.location
    ):
        for item in page.get("Contents", []):
            matched = table.key_pattern.fullmatch(item["Key"])
            if matched is None or item["Key"].rsplit("/", 1)[-1].startswith(("_", ".")):
                continue  # deeper folders, other prefixes, hidden files: not read by Athena
            value = matched["value"]
            if table.partition.value_of(value, now) is not None:
                found.append(ProjectedObject(item["Key"], value))
    return found


def duckdb_type(glue_type: str) -> str:
    """A Glue (Hive) column type as DuckDB's: map<string,string> -> MAP(VARCHAR, VARCHAR)."""
    text = glue_type.strip().lower()
    if text in _SCALARS:
        return _SCALARS[text]
    if text.startswith("map<") and text.endswith(">"):
        key, value = _split_top_level(text[4:-1])
        return f"MAP({duckdb_type(key)}, {duckdb_type(value)})"
    if text.startswith("array<") and text.endswith(">"):
        return f"{duckdb_type(text[6:-1])}[]"
    if re.fullmatch(r"decimal\(\d+,\s*\d+\)", text):
        return text.upper()
    raise TableError(f"The local runner has no DuckDB type for Glue type {glue_type!r}")


def _split_top_level(text: str) -> tuple[str, str]:
    depth = 0
    for index, char in enumerate(text):
        depth += {"<": 1, ">": -1}.get(char, 0)
        if char == "," and depth == 0:
            return text[:index], text[index + 1 :]
    raise TableError(f"map<{text}> has no value type")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _identifier(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


class LocalTable:
    """The table's projected objects in a temporary folder, and a DuckDB connection where
    `<database>.<table>` reads them. Use as a context manager; `query(sql)` runs SQL."""

    def __init__(self, s3: Any, table: ProjectedTable, now: datetime | None = None) -> None:
        self.table = table
        self.objects = projected_objects(s3, table, now or datetime.now(UTC))
        self._folder = tempfile.TemporaryDirectory(prefix="local-athena-")
        files = []
        for item in self.objects:
            # One key=value folder per partition, as Hive lays them out (DuckDB reads the value).
            target = Path(self._folder.name) / f"{table.partition.key}={item.partition_value}"
            target.mkdir(exist_ok=True)
            path = target / item.key.rsplit("/", 1)[-1]
            s3.download_file(table.bucket, item.key, str(path))
            files.append(str(path))
        self.connection = duckdb.connect(
            config={"autoinstall_known_extensions": False, "autoload_known_extensions": False}
        )
        self.connection.execute(f"CREATE SCHEMA {_identifier(table.database)}")
        self.connection.execute(self._view(files))
        for macro in MACROS:
            self.connection.execute(macro)

    def _view(self, files: list[str]) -> str:
        table, key = self.table, self.table.partition.key
        name = f"{_identifier(table.database)}.{_identifier(table.name)}"
        select = ", ".join(_identifier(column) for column, _ in table.columns)
        if not files:  # read_json of no file is an error; an empty table answers no rows
            typed = ", ".join(
                f"CAST(NULL AS {duckdb_type(kind)}) AS {_identifier(column)}"
                for column, kind in table.columns
            )
            return f"CREATE VIEW {name} AS SELECT {typed} WHERE false"
        columns = ", ".join(
            f"{_literal(column)}: {_literal(duckdb_type(kind))}"
            for column, kind in table.data_columns
        )
        key_type = duckdb_type(dict(table.columns)[key])
        return (  # every name and path in it is quoted by _identifier or _literal
            f"CREATE VIEW {name} AS SELECT {select} FROM read_json("  # noqa: S608
            f"[{', '.join(_literal(f) for f in files)}], format = 'newline_delimited', "
            f"compression = 'auto', columns = {{{columns}}}, hive_partitioning = true, "
            f"hive_types = {{{_literal(key)}: {_literal(key_type)}}}, "
            "hive_types_autocast = false, maximum_object_size = 268435456)"
        )

    def query(self, sql: str) -> QueryResult:
        cursor = self.connection.execute(sql)
        if cursor.description is None:
            return QueryResult((), ())
        columns = tuple(str(d[0]) for d in cursor.description)
        return QueryResult(columns, tuple(tuple(row) for row in cursor.fetchall()))

    def close(self) -> None:
        self.connection.close()
        self._folder.cleanup()

    def __enter__(self) -> LocalTable:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class QueryResult:
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]
