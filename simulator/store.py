"""ProspectPro's tables in one in-memory SQLite connection (one per process).

gevent never switches greenlets inside a sqlite3 call, so every statement is atomic with respect to the others and
no locking is needed. Column kinds drive the conversion back to JSON the way PostgREST would write them
(jsonb -> objects, booleans -> true/false, numeric -> numbers).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable

# table -> column -> kind ("text", "int", "num", "bool", "json"). Order is PostgREST's `select=*` order.
TABLES: dict[str, dict[str, str]] = {
    "campaigns": {
        "id": "text", "business_type": "text", "location": "text", "target_count": "int", "budget_limit": "num",
        "min_confidence_score": "int", "status": "text", "results_count": "int", "total_cost": "num",
        "processing_time_ms": "int", "created_at": "text", "updated_at": "text", "user_id": "text",
        "session_user_id": "text", "campaign_hash": "text",
    },
    "leads": {
        "id": "int", "campaign_id": "text", "business_name": "text", "address": "text", "phone": "text",
        "website": "text", "email": "text", "confidence_score": "int", "score_breakdown": "json",
        "validation_cost": "num", "enrichment_data": "json", "cost_efficient": "bool",
        "scoring_recommendation": "text", "created_at": "text", "updated_at": "text", "user_id": "text",
        "session_user_id": "text",
    },
    "discovery_jobs": {
        "id": "text", "campaign_id": "text", "user_id": "text", "session_user_id": "text", "status": "text",
        "progress": "int", "current_stage": "text", "config": "json", "results": "json", "metrics": "json",
        "error": "text", "created_at": "text", "started_at": "text", "completed_at": "text", "updated_at": "text",
    },
    "dashboard_exports": {
        "id": "int", "campaign_id": "text", "export_type": "text", "file_format": "text", "row_count": "int",
        "export_status": "text", "completed_at": "text", "created_at": "text", "user_id": "text",
        "session_user_id": "text",
    },
    "user_profiles": {
        "id": "text", "email": "text", "full_name": "text", "avatar_url": "text", "subscription_tier": "text",
        "total_spent": "num", "monthly_budget": "num", "created_at": "text", "updated_at": "text",
    },
}
# campaign_analytics is a view: the campaign's columns plus actual_leads and avg_confidence.
TABLES["campaign_analytics"] = {**TABLES["campaigns"], "actual_leads": "int", "avg_confidence": "num"}
VIEWS = {"campaign_analytics"}
# Row-level security: who may see a row is decided by this column (the JWT's sub must equal it).
OWNER_COLUMN = {name: ("id" if name == "user_profiles" else "user_id") for name in TABLES}

_SQL_TYPES = {"text": "TEXT", "int": "INTEGER", "num": "REAL", "bool": "INTEGER", "json": "TEXT"}
_AUTOINCREMENT = {"leads", "dashboard_exports"}


def _create_schema(db: sqlite3.Connection) -> None:
    for table, columns in TABLES.items():
        if table in VIEWS:
            continue
        defs = []
        for column, kind in columns.items():
            if column == "id":
                defs.append("id INTEGER PRIMARY KEY AUTOINCREMENT" if table in _AUTOINCREMENT else "id TEXT PRIMARY KEY")
            else:
                defs.append(f"{column} {_SQL_TYPES[kind]}")
        db.execute(f"CREATE TABLE {table} ({', '.join(defs)})")
    db.execute("CREATE INDEX leads_campaign ON leads (campaign_id)")
    db.execute("CREATE INDEX leads_user ON leads (user_id)")
    db.execute("CREATE INDEX campaigns_user ON campaigns (user_id)")
    db.execute("CREATE INDEX jobs_user ON discovery_jobs (user_id)")
    db.execute("CREATE INDEX exports_user ON dashboard_exports (user_id)")
    campaign_columns = ", ".join(f"c.{column}" for column in TABLES["campaigns"])
    db.execute(
        f"CREATE VIEW campaign_analytics AS SELECT {campaign_columns}, COUNT(l.id) AS actual_leads, "
        "ROUND(AVG(l.confidence_score), 2) AS avg_confidence FROM campaigns c "
        "LEFT JOIN leads l ON l.campaign_id = c.id GROUP BY c.id"
    )


def to_sql_value(kind: str, value):
    if value is None:
        return None
    if kind == "json":
        return json.dumps(value, separators=(",", ":"))
    if kind == "bool":
        return 1 if value else 0
    return value


def _from_sql(kind: str):
    if kind == "json":
        return lambda value: None if value is None else json.loads(value)
    if kind == "bool":
        return lambda value: None if value is None else bool(value)
    return None  # returned as stored


ChangeListener = Callable[[str, str, dict, "dict | None"], None]  # (table, INSERT|UPDATE, record, old record)


class Store:
    def __init__(self) -> None:
        self.db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        _create_schema(self.db)
        # Logical replication, for Realtime: tables whose row changes are told to a listener, with the whole row
        # before and after (REPLICA IDENTITY FULL). Unwatched tables pay nothing.
        self._listeners: dict[str, list[ChangeListener]] = {}
        self._converters = {
            table: {column: _from_sql(kind) for column, kind in columns.items() if _from_sql(kind)}
            for table, columns in TABLES.items()
        }

    def watch(self, table: str, listener: ChangeListener) -> None:
        """Tell ``listener`` about every row inserted into or updated in ``table`` (single-row writes)."""
        self._listeners.setdefault(table, []).append(listener)

    def insert(self, table: str, row: dict) -> int | None:
        kinds = TABLES[table]
        columns = list(row)
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        cursor = self.db.execute(sql, [to_sql_value(kinds[c], row[c]) for c in columns])
        listeners = self._listeners.get(table)
        record = self.get(table, row["id"] if "id" in row else cursor.lastrowid) if listeners else None
        if listeners and record is not None:  # (the row just inserted: always found)
            for listener in listeners:
                listener(table, "INSERT", record, None)
        return cursor.lastrowid

    def insert_many(self, table: str, rows: list[dict]) -> None:
        if not rows:
            return
        kinds = TABLES[table]
        columns = list(rows[0])
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        self.db.execute("BEGIN")
        try:
            self.db.executemany(sql, ([to_sql_value(kinds[c], row[c]) for c in columns] for row in rows))
        finally:
            self.db.execute("COMMIT")

    def update(self, table: str, row_id, changes: dict) -> None:
        kinds = TABLES[table]
        assignments = ", ".join(f"{column} = ?" for column in changes)
        values = [to_sql_value(kinds[c], v) for c, v in changes.items()]
        listeners = self._listeners.get(table)
        old = self.get(table, row_id) if listeners else None
        self.db.execute(f"UPDATE {table} SET {assignments} WHERE id = ?", [*values, row_id])
        record = self.get(table, row_id) if listeners and old is not None else None
        if listeners and old is not None and record is not None:  # (the row just updated: always found)
            for listener in listeners:
                listener(table, "UPDATE", record, old)

    def query(self, table: str, columns: list[str], sql: str, params: list) -> list[dict]:
        """Rows of `sql` (which must select `columns` in order) as dicts, converted for JSON."""
        converters = self._converters[table]
        conversions = [(i, converters[c]) for i, c in enumerate(columns) if c in converters]
        rows = []
        for values in self.db.execute(sql, params):
            if conversions:
                values = list(values)
                for i, convert in conversions:
                    values[i] = convert(values[i])
            rows.append(dict(zip(columns, values)))
        return rows

    def scalar(self, sql: str, params: list):
        row = self.db.execute(sql, params).fetchone()
        return row[0] if row else None

    def get(self, table: str, row_id, owner: str | None = None) -> dict | None:
        """One row by id, optionally only if `owner` owns it (row-level security)."""
        columns = list(TABLES[table])
        sql = f"SELECT {', '.join(columns)} FROM {table} WHERE id = ?"
        params = [row_id]
        if owner is not None:
            sql += f" AND {OWNER_COLUMN[table]} = ?"
            params.append(owner)
        rows = self.query(table, columns, sql, params)
        return rows[0] if rows else None
