"""The store's schema, every table of every stage, as ``sqlite_utils`` migrations.

Tables (plain names, foreign keys and indexes, so the file reads well in Datasette):

- ``reports``: one row per report (id, title, date).
- ``sources``: one row per distinct URL, keyed by its canonical form.
- ``citations``: one row per URL in a footnote; removed footnotes keep their row (``removed_at``).
- ``citation_changes``: what each import added, updated, removed or restored, with old values.
- ``imports``: one row per import of a report file, with its counts and warnings.
- ``check_runs``, ``checks``: every run of the link checker and every attempt it made.
- ``source_state``: each checked source's current verdict and what it rests on.
- ``reference_texts``: each source's first good page (compressed) and, once a later check
  found it changed, its main text: what drift is measured against.
- ``captures``, ``capture_resources``, ``capture_texts`` (with FTS5): local copies (each with
  its WARC file's path and SHA-256), every exchange stored in them (and every requisite
  attempted that got no answer), and searchable text.
- ``wayback_snapshots``, ``wayback_lookups``, ``wayback_state``: every Archive capture found,
  every lookup made, and each source's nearest and newest copy now.
- ``wayback_saves``, ``wayback_save_events``, ``wayback_pauses``: Save Page Now jobs, every
  move of their state, and rate-limit pauses.
- ``runs``: every run, from the CLI or the scheduler, of the main job or one stage
  (``archiver runs``): job, trigger, start, end, status, counts, summary, error.

Enum-like columns (verdicts, save states, capture statuses, change kinds, run statuses) carry
CHECK constraints: a word the code does not know cannot be stored.

A change to the schema is a new migration at the end; a migration once released is never edited.
"""

from __future__ import annotations

import sqlite3

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("archiver")


@migrations()
def m001_reports_sources_citations(db: Database) -> None:
    db.table("reports").create(
        {"id": str, "title": str, "date": str, "created_at": str, "updated_at": str},
        pk="id",
        not_null={"id"},
    )
    db.table("sources").create(
        {
            "id": int,
            "canonical_url": str,
            "url": str,
            "host": str,
            "first_cited_at": str,
        },
        pk="id",
        not_null={"canonical_url", "url"},
    )
    db.table("sources").create_index(["canonical_url"], unique=True)
    db.table("sources").create_index(["host"])
    db.table("imports").create(
        {
            "id": int,
            "report_id": str,
            "path": str,
            "sha256": str,
            "format": str,
            "imported_at": str,
            "added": int,
            "updated": int,
            "removed": int,
            "restored": int,
            "unchanged": int,
            "markers_without_urls": str,
            "skipped": str,
        },
        pk="id",
        foreign_keys=[("report_id", "reports", "id")],
    )
    db.table("imports").create_index(["report_id"])
    db.table("citations").create(
        {
            "id": int,
            "report_id": str,
            "footnote": int,
            "position": int,
            "source_id": int,
            "url": str,
            "context": str,
            "accessed": str,
            "added_at": str,
            "updated_at": str,
            "removed_at": str,
        },
        pk="id",
        not_null={"report_id", "footnote", "position", "source_id", "url"},
        foreign_keys=[("report_id", "reports", "id"), ("source_id", "sources", "id")],
    )
    db.table("citations").create_index(["report_id", "footnote", "position"], unique=True)
    db.table("citations").create_index(["source_id"])
    db.table("citation_changes").create(
        {
            "id": int,
            "citation_id": int,
            "import_id": int,
            "change": str,
            "old_url": str,
            "old_context": str,
            "old_accessed": str,
        },
        pk="id",
        foreign_keys=[("citation_id", "citations", "id"), ("import_id", "imports", "id")],
    )
    db.table("citation_changes").create_index(["citation_id"])
    db.table("citation_changes").create_index(["import_id"])


@migrations()
def m002_checks(db: Database) -> None:
    """Link checking: every attempt (``checks``), per run (``check_runs``), current state."""
    db.table("check_runs").create(
        {
            "id": int,
            "started_at": str,
            "finished_at": str,
            "scope": str,
            "sources": int,
            "checked": int,
            "inconclusive": int,
            "message": str,
            "summary": str,
        },
        pk="id",
    )
    db.table("checks").create(
        {
            "id": int,
            "run_id": int,
            "source_id": int,
            "checked_at": str,
            "method": str,
            "status_code": int,
            "final_url": str,
            "redirects": str,
            "error_type": str,
            "error_message": str,
            "elapsed_ms": int,
            "ttfb_ms": int,
            "bytes_read": int,
            "truncated": int,
            "content_type": str,
            "content_hash": str,
            "text_hash": str,
            "ip": str,
            "outcome": str,
            "reason": str,
            "counted": int,
        },
        pk="id",
        foreign_keys=[("run_id", "check_runs", "id"), ("source_id", "sources", "id")],
    )
    db.table("checks").create_index(["source_id", "id"])
    db.table("checks").create_index(["run_id"])
    db.table("source_state").create(
        {
            "source_id": int,
            "verdict": str,
            "reason": str,
            "http_status": int,
            "final_url": str,
            "checked_at": str,
            "since": str,
            "last_ok_at": str,
            "drifted": int,
            "similarity": float,
            "failures": int,
            "failing_since": str,
            "etag": str,
            "last_modified": str,
            "content_type": str,
            "content_hash": str,
            "text_hash": str,
        },
        pk="source_id",
        foreign_keys=[("source_id", "sources", "id")],
    )
    db.table("source_state").create_index(["verdict"])
    db.table("reference_texts").create(
        {
            "source_id": int,
            "taken_at": str,
            "content_hash": str,
            "body": bytes,
            "text_hash": str,
            "text": str,
        },
        pk="source_id",
        foreign_keys=[("source_id", "sources", "id")],
    )


@migrations()
def m003_captures(db: Database) -> None:
    """Local captures: WARC files, the exchanges in them, chain-of-custody facts, text."""
    db.table("captures").create(
        {
            "id": int,
            "source_id": int,
            "url": str,
            "captured_at": str,
            "status": str,
            "warc_path": str,
            "warc_sha256": str,
            "status_code": int,
            "final_url": str,
            "payload_sha256": str,
            "content_hash": str,
            "bytes": int,
            "truncated": int,
            "ip": str,
            "tls_subject": str,
            "tls_issuer": str,
            "tls_fingerprint": str,
            "error_type": str,
            "error_message": str,
            "title": str,
            "language": str,
            "published": str,
            "canonical_url": str,
            "author": str,
            "tool_version": str,
        },
        pk="id",
        foreign_keys=[("source_id", "sources", "id")],
    )
    db.table("captures").create_index(["source_id", "id"])
    db.table("warc_files").create(
        {"path": str, "sha256": str, "capture_id": int, "created_at": str},
        pk="path",
        foreign_keys=[("capture_id", "captures", "id")],
    )
    db.table("capture_resources").create(
        {
            "id": int,
            "capture_id": int,
            "url": str,
            "role": str,
            "status_code": int,
            "content_type": str,
            "payload_sha256": str,
            "bytes": int,
            "truncated": int,
            "record_id": str,
            "record_offset": int,
            "revisit_of": str,
        },
        pk="id",
        foreign_keys=[("capture_id", "captures", "id")],
    )
    db.table("capture_resources").create_index(["capture_id"])
    db.table("capture_texts").create(
        {"capture_id": int, "source_id": int, "title": str, "text": str},
        pk="capture_id",
        foreign_keys=[("capture_id", "captures", "id"), ("source_id", "sources", "id")],
    )
    # unicode61 folds case for Cyrillic and Kazakh letters too, so "Синими" finds "синими".
    db.table("capture_texts").enable_fts(
        ["title", "text"], fts_version="FTS5", tokenize="unicode61", create_triggers=True
    )


@migrations()
def m004_wayback(db: Database) -> None:
    """Wayback Machine: snapshots found, nearest and newest copies, saves, pauses."""
    db.table("wayback_snapshots").create(
        {
            "id": int,
            "source_id": int,
            "timestamp": str,
            "original": str,
            "url": str,
            "status": int,
            "mimetype": str,
            "digest": str,
            "length": int,
            "found_at": str,
        },
        pk="id",
        not_null={"source_id", "timestamp", "digest"},
        defaults={"digest": ""},
        foreign_keys=[("source_id", "sources", "id")],
    )
    db.table("wayback_snapshots").create_index(["source_id", "timestamp", "digest"], unique=True)
    db.table("wayback_state").create(
        {
            "source_id": int,
            "target_date": str,
            "nearest_timestamp": str,
            "nearest_url": str,
            "nearest_status": int,
            "newest_timestamp": str,
            "newest_url": str,
            "via": str,
            "looked_up_at": str,
            "error_type": str,
            "error_message": str,
        },
        pk="source_id",
        foreign_keys=[("source_id", "sources", "id")],
    )
    db.table("wayback_saves").create(
        {
            "id": int,
            "source_id": int,
            "state": str,
            "job_id": str,
            "queued_at": str,
            "submitted_at": str,
            "finished_at": str,
            "timestamp": str,
            "original": str,
            "status_ext": str,
            "message": str,
            "error_type": str,
            "attempts": int,
            "next_attempt_at": str,
        },
        pk="id",
        not_null={"source_id", "state", "attempts"},
        defaults={"attempts": 0},
        foreign_keys=[("source_id", "sources", "id")],
    )
    db.table("wayback_saves").create_index(["source_id", "state"])
    db.table("wayback_saves").create_index(["state"])
    db.table("wayback_saves").create_index(["job_id"], unique=True)
    db.table("wayback_pauses").create(
        {"kind": str, "paused_until": str, "seconds": float, "reason": str, "paused_at": str},
        pk="kind",
    )


@migrations()
def m005_runs(db: Database) -> None:
    """Scheduled job runs: one row each, written when it starts and again when it ends."""
    db.table("runs").create(
        {
            "id": int,
            "job": str,
            "started_at": str,
            "finished_at": str,
            "status": str,
            "counts": str,
            "error": str,
        },
        pk="id",
        not_null={"job", "started_at", "status"},
    )
    db.table("runs").create_index(["job", "id"])


# The words each enum-like column may hold, as of m006 (a later migration that adds a word
# rebuilds the table again; these literals are history, not imported constants).
_ALLOWED: dict[str, dict[str, tuple[str, ...]]] = {
    "citation_changes": {"change": ("added", "updated", "removed", "restored")},
    "checks": {
        "outcome": ("ok", "redirected", "soft_404", "blocked", "failing", "dead", "unchecked")
    },
    "source_state": {
        "verdict": ("ok", "redirected", "soft_404", "blocked", "failing", "dead", "unchecked")
    },
    "captures": {"status": ("captured", "revisit", "failed")},
    "wayback_saves": {"state": ("queued", "submitted", "saved", "failed", "retry-later")},
    "runs": {"status": ("running", "ok", "failed", "interrupted")},
}


def _add_checks(db: Database, table: str, allowed: dict[str, tuple[str, ...]]) -> None:
    """Rebuild ``table`` with CHECK constraints (SQLite cannot add them to a table in place)."""
    sql = db.execute(
        "select sql from sqlite_master where type = 'table' and name = ?", [table]
    ).fetchone()[0]
    if "CHECK (" in sql:
        return  # rebuilt already, by a run of this migration that stopped before recording it
    indexes = [
        row[0]
        for row in db.execute(
            "select sql from sqlite_master where type = 'index' and tbl_name = ? "
            "and sql is not null",
            [table],
        )
    ]
    checks = "".join(
        f",\n   CHECK ([{column}] IN ({', '.join(repr(word) for word in words)}))"
        for column, words in allowed.items()
    )
    body = sql[sql.index("(") : sql.rindex(")")]
    db.execute(f"CREATE TABLE [{table}_new] {body}{checks}\n)")
    db.execute(f"INSERT INTO [{table}_new] SELECT * FROM [{table}]")
    db.execute(f"DROP TABLE [{table}]")
    db.execute(f"ALTER TABLE [{table}_new] RENAME TO [{table}]")
    for index in indexes:
        db.execute(index)


@migrations(transactional=False)
def m006_checked_words_one_warc_record(db: Database) -> None:
    """CHECK constraints on verdicts, save states, capture statuses, change kinds and run
    statuses; ``warc_files`` folded into ``captures``, which already held its path and hash.

    Not one transaction with the others: rebuilding tables that others reference needs foreign
    keys off, which SQLite only allows outside a transaction.
    """
    db.execute("PRAGMA foreign_keys = OFF")
    try:
        db.execute("BEGIN IMMEDIATE")
        try:
            if db["warc_files"].exists():
                # Captures written before the fold: take path and hash from warc_files if unset.
                db.execute(
                    "update captures set warc_path = (select w.path from warc_files w "
                    "where w.capture_id = captures.id), warc_sha256 = (select w.sha256 from "
                    "warc_files w where w.capture_id = captures.id) where warc_path is null "
                    "and id in (select capture_id from warc_files)"
                )
                db.execute("DROP TABLE warc_files")
            for table, allowed in _ALLOWED.items():
                _add_checks(db, table, allowed)
            problems = db.execute("PRAGMA foreign_key_check").fetchall()
            if problems:
                raise sqlite3.IntegrityError(f"foreign keys broken by the rebuild: {problems[:5]}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    finally:
        db.execute("PRAGMA foreign_keys = ON")


@migrations()
def m007_history(db: Database) -> None:
    """Wayback lookups and save transitions as history rows, like checks and captures; runs of
    every kind (CLI or scheduled, whole job or one stage) with their summary."""
    db.table("wayback_lookups").create(
        {
            "id": int,
            "source_id": int,
            "looked_up_at": str,
            "target_date": str,
            "via": str,
            "snapshots": int,
            "nearest_timestamp": str,
            "nearest_url": str,
            "nearest_status": int,
            "newest_timestamp": str,
            "newest_url": str,
            "error_type": str,
            "error_message": str,
        },
        pk="id",
        not_null={"source_id", "looked_up_at"},
        foreign_keys=[("source_id", "sources", "id")],
    )
    db.table("wayback_lookups").create_index(["source_id", "id"])
    # What wayback_state holds now is the last lookup of each source: keep it as history too.
    db.execute(
        "insert into wayback_lookups (source_id, looked_up_at, target_date, via, "
        "nearest_timestamp, nearest_url, nearest_status, newest_timestamp, newest_url, "
        "error_type, error_message) select source_id, looked_up_at, target_date, via, "
        "nearest_timestamp, nearest_url, nearest_status, newest_timestamp, newest_url, "
        "error_type, error_message from wayback_state where looked_up_at is not null"
    )
    db.table("wayback_save_events").create(
        {
            "id": int,
            "save_id": int,
            "at": str,
            "from_state": str,
            "to_state": str,
            "job_id": str,
            "error_type": str,
            "status_ext": str,
            "message": str,
        },
        pk="id",
        not_null={"save_id", "at", "to_state"},
        foreign_keys=[("save_id", "wayback_saves", "id")],
    )
    db.table("wayback_save_events").create_index(["save_id", "id"])
    db.execute(
        "insert into wayback_save_events (save_id, at, from_state, to_state, job_id, "
        "error_type, status_ext, message) select id, coalesce(finished_at, submitted_at, "
        "queued_at, ''), null, state, job_id, error_type, status_ext, message from wayback_saves"
    )
    db.table("runs").add_column("trigger", str)
    db.table("runs").add_column("summary", str)
    db.execute("update runs set trigger = 'schedule'")


@migrations()
def m008_views_at_scale(db: Database) -> None:
    """Indexes that let status, report and search read one row per citation with index
    lookups, and each report's counts kept on its row, so `archiver reports` does not count a
    million citations."""
    db.table("wayback_saves").create_index(["source_id"])
    db.table("wayback_saves").create_index(["source_id", "state", "timestamp"])
    db.execute("DROP INDEX IF EXISTS idx_wayback_saves_source_id_state")
    db.table("captures").create_index(["source_id", "status", "captured_at"])
    db.table("capture_texts").create_index(["source_id", "capture_id"])
    db.table("citations").create_index(["report_id", "removed_at", "source_id"])
    for column in ("footnotes", "citations", "sources", "removed"):
        db.table("reports").add_column(column, int, not_null_default=0)
    db.execute(
        "update reports set (footnotes, citations, sources, removed) = "
        "(select count(distinct case when c.removed_at is null then c.footnote end), "
        "count(case when c.removed_at is null then 1 end), "
        "count(distinct case when c.removed_at is null then c.source_id end), "
        "count(case when c.removed_at is not null then 1 end) "
        "from citations c where c.report_id = reports.id)"
    )


# What m009's triggers set on the status row of the source ``{id}``, one table each.
_STATE_OF = """
    (verdict, reason, http_status, final_url, checked_at, since, last_ok_at, drifted) = (
        select coalesce(st.verdict, 'unchecked'), st.reason, st.http_status, st.final_url,
               st.checked_at, st.since, st.last_ok_at, coalesce(st.drifted, 0)
        from (select 1) left join source_state st on st.source_id = {id})
"""
_WAYBACK_OF = """
    (wayback_url, wayback_timestamp, archive_newest) = (
        select ws.nearest_url, ws.nearest_timestamp, ws.newest_timestamp
        from (select 1) left join wayback_state ws on ws.source_id = {id})
"""
_SAVES_OF = """
    (wayback_save, saved_timestamp) = (
        select coalesce((select state from wayback_saves where source_id = {id}
                         order by id desc limit 1), 'none'),
               (select max(timestamp) from wayback_saves where source_id = {id}
                and state = 'saved'))
"""
_LOCAL_OF = """
    local_captured_at = (select max(captured_at) from captures where source_id = {id}
                         and status = 'captured')
"""


@migrations()
def m009_source_status(db: Database) -> None:
    """``source_status``: each source's row as `archiver status` shows it, kept by triggers on
    the tables it is read from, so a view of a million citations reads one row per citation
    and one per source instead of six index lookups. A later migration that rebuilds one of
    those tables must create its triggers again."""
    db.execute(
        """
        create table source_status (
            source_id integer primary key references sources(id),
            canonical_url text not null,
            verdict text not null default 'unchecked', reason text, http_status integer,
            final_url text, checked_at text, since text, last_ok_at text,
            drifted integer not null default 0,
            wayback_url text, wayback_timestamp text, archive_newest text,
            wayback_save text not null default 'none', saved_timestamp text,
            local_captured_at text
        )
        """
    )
    db.execute(
        "create trigger source_status_new after insert on sources begin "
        "insert into source_status (source_id, canonical_url) "
        "values (new.id, new.canonical_url); end"
    )
    db.execute(
        "create trigger source_status_url after update of canonical_url on sources begin "
        "update source_status set canonical_url = new.canonical_url "
        "where source_id = new.id; end"
    )
    for table, sets in (
        ("source_state", _STATE_OF),
        ("wayback_state", _WAYBACK_OF),
        ("wayback_saves", _SAVES_OF),
        ("captures", _LOCAL_OF),
    ):
        for event, row in (("insert", "new"), ("update", "new"), ("delete", "old")):
            db.execute(
                f"create trigger source_status_{table}_{event} after {event} on {table} begin "
                f"update source_status set {sets.format(id=f'{row}.source_id')} "
                f"where source_id = {row}.source_id; end"
            )
    # A row that moves to another source leaves the old one to recount.
    for table, sets in (("wayback_saves", _SAVES_OF), ("captures", _LOCAL_OF)):
        db.execute(
            f"create trigger source_status_{table}_moved after update of source_id on {table} "
            f"begin update source_status set {sets.format(id='old.source_id')} "
            "where source_id = old.source_id; end"
        )
    db.execute(
        "insert into source_status (source_id, canonical_url) select id, canonical_url from sources"
    )
    every = ", ".join(
        part.format(id="source_status.source_id").strip()
        for part in (_STATE_OF, _WAYBACK_OF, _SAVES_OF, _LOCAL_OF)
    )
    db.execute(f"update source_status set {every}")


_LOCAL_COPIES_OF = """
    (local_captured_at, local_content_at) = (
        select max(captured_at), min(case when holds = 'content' then captured_at end)
        from captures where source_id = {id} and status = 'captured')
"""


@migrations()
def m010_what_copies_hold(db: Database) -> None:
    """``captures.holds``: what each local copy holds (content, block_page, login_wall,
    not_found, error, truncated), by the checker's rules; ``source_status.local_content_at``:
    a source's earliest copy that holds its content, the one nearest the citation date.

    Captures made before this migration are judged by their HTTP status alone (a 200 login
    wall reads as content until the source is captured again)."""
    holds = "('content', 'block_page', 'login_wall', 'not_found', 'error', 'truncated')"
    db.execute(f"alter table captures add column holds text check (holds in {holds})")
    db.execute("alter table captures add column holds_reason text")
    db.execute(
        """
        update captures set holds = case
            when truncated then 'truncated'
            when status_code between 200 and 299 then 'content'
            when status_code in (401, 403, 407, 429, 451) then 'block_page'
            when status_code in (404, 410) then 'not_found'
            else 'error' end,
          holds_reason = 'http_' || status_code
        where status != 'failed' and status_code is not null
        """
    )
    db.execute("alter table source_status add column local_content_at text")
    for event, row in (("insert", "new"), ("update", "new"), ("delete", "old")):
        db.execute(f"drop trigger source_status_captures_{event}")
        db.execute(
            f"create trigger source_status_captures_{event} after {event} on captures begin "
            f"update source_status set {_LOCAL_COPIES_OF.format(id=f'{row}.source_id')} "
            f"where source_id = {row}.source_id; end"
        )
    db.execute("drop trigger source_status_captures_moved")
    db.execute(
        "create trigger source_status_captures_moved after update of source_id on captures "
        f"begin update source_status set {_LOCAL_COPIES_OF.format(id='old.source_id')} "
        "where source_id = old.source_id; end"
    )
    db.execute(f"update source_status set {_LOCAL_COPIES_OF.format(id='source_status.source_id')}")


# What a Wayback capture holds, by the HTTP status the Archive recorded for it ({status}; none:
# a revisit of a 200), as m011 defines it: the checker's blocking and "not found" statuses.
_WAYBACK_HOLDS = """
    case when {status} is null or {status} between 200 and 299 then 'content'
         when {status} in (401, 403, 407, 429, 451) then 'block_page'
         when {status} in (404, 410) then 'not_found'
         else 'error' end
"""
# A 14-digit (or shorter) Archive timestamp as the ISO 8601 moment the database writes.
_WAYBACK_MOMENT = """
    (substr({ts} || '00000000000000', 1, 4) || '-' || substr({ts} || '00000000000000', 5, 2)
     || '-' || substr({ts} || '00000000000000', 7, 2) || 'T'
     || substr({ts} || '00000000000000', 9, 2) || ':' || substr({ts} || '00000000000000', 11, 2)
     || ':' || substr({ts} || '00000000000000', 13, 2) || '+00:00')
"""
# A copy holds the content and was made on or before the citation date.
_BEFORE = "(c.holds = 'content' and m.cited_on is not null and substr(c.at, 1, 10) <= m.cited_on)"
# The one ranking of a source's copies, best first (``place`` 1): those that hold the cited
# content; of them, one whose text drifted since it was cited only when nothing else is left;
# then a copy from before the citation date (the latest) before one from after (the
# earliest). Copies that do not hold the content follow, the newest first.
_SOURCE_COPIES = f"""
    create view source_copies as
    with copies as (
        select st.source_id, 'live' as kind, 1 as kind_order, 'content' as holds,
               coalesce(st.final_url, s.url) as url, null as path, st.checked_at as at,
               null as timestamp, coalesce(st.drifted, 0) as drifted, null as capture_id
        from source_state st join sources s on s.id = st.source_id
        where st.verdict in ('ok', 'redirected')
        union all
        select source_id, 'wayback_nearest', 2, {_WAYBACK_HOLDS.format(status="nearest_status")},
               nearest_url, null, {_WAYBACK_MOMENT.format(ts="nearest_timestamp")},
               nearest_timestamp, 0, null
        from wayback_state where nearest_timestamp is not null
        union all
        -- The lookup takes the newest copy among those that answered 200.
        select source_id, 'wayback_newest', 3, 'content', newest_url, null,
               {_WAYBACK_MOMENT.format(ts="newest_timestamp")}, newest_timestamp, 0, null
        from wayback_state
        where newest_timestamp is not null and newest_url is not nearest_url
        union all
        select source_id, 'local', 4, holds, null, warc_path, captured_at, null,
               coalesce(drifted, 0), id
        from captures where status = 'captured'
    )
    select c.*, m.cited_on, {_BEFORE} as before_citation,
           row_number() over (
               partition by c.source_id
               order by c.holds is not 'content', c.drifted, not {_BEFORE},
                        case when {_BEFORE} then c.at end desc,
                        case when c.holds = 'content' then c.at end,
                        c.at desc, c.kind_order, c.capture_id
           ) as place
    from copies c join source_status m on m.source_id = c.source_id
"""
# What m011's triggers set on the status row of the source ``{id}``: its best copy (place 1,
# when it holds the content) and why it is the one.
_BEST_OF = """
    (best_kind, best_holds, best_url, best_path, best_at, best_drifted, best_reason) = (
        select b.kind, b.holds, b.url, b.path, b.at, coalesce(b.drifted, 0),
               case when b.kind is null then null
                    when b.drifted then 'the ' || case b.kind when 'live' then 'live page'
                        when 'local' then 'local copy' else 'Wayback copy' end
                        || ', though its text changed since it was cited: '
                        || 'no other copy holds the cited content'
                    when b.cited_on is null then 'no citation date is known'
                    when b.before_citation then
                        'the nearest copy from before the citation date, ' || b.cited_on
                    else 'the nearest copy after the citation date, ' || b.cited_on end
        from (select 1) left join source_copies b
          on b.source_id = {id} and b.place = 1 and b.holds = 'content')
"""
# When the source ``{id}`` was first cited: its earliest access date, else its report's date.
_CITED_ON_OF = """
    cited_on = (select min(coalesce(c.accessed, r.date)) from citations c
                join reports r on r.id = c.report_id
                where c.source_id = {id} and c.removed_at is null)
"""


@migrations()
def m011_best_copy(db: Database) -> None:
    """Each source's best copy kept on its status row (``best_*``), ranked once, in SQL, by
    the ``source_copies`` view that ``archiver get`` reads too; ``cited_on``, the date the
    ranking measures from; ``captures.drifted``: whether a capture's main text drifted from
    the citation-time text; ``wayback_copies``: every Wayback capture with what it holds.

    Captures made before this migration have no drift known (``drifted`` null): they count
    as not drifted."""
    db.execute("alter table captures add column drifted integer")
    db.execute("alter table captures add column similarity real")
    for column in ("cited_on", "best_kind", "best_holds", "best_url", "best_path", "best_at"):
        db.execute(f"alter table source_status add column {column} text")
    db.execute("alter table source_status add column best_drifted integer not null default 0")
    db.execute("alter table source_status add column best_reason text")
    db.execute(
        "create view wayback_copies as select p.*, "
        f"{_WAYBACK_HOLDS.format(status='p.status')} as holds from wayback_snapshots p"
    )
    db.execute(_SOURCE_COPIES)
    db.execute(f"update source_status set {_CITED_ON_OF.format(id='source_status.source_id')}")
    db.execute(f"update source_status set {_BEST_OF.format(id='source_status.source_id')}")
    # The importer refreshes cited_on once per report it changed (store.reports); the rest
    # follows from here.
    # A source with no copy at all (any newly cited one) has nothing to rank: its status
    # row says so (a live page, a Wayback copy, a full local capture), and a first import of
    # many sources costs no ranking.
    db.execute(
        "create trigger source_best_cited_on after update of cited_on on source_status "
        "when old.cited_on is not new.cited_on and (new.verdict in ('ok', 'redirected') "
        "or new.wayback_timestamp is not null or new.archive_newest is not null "
        "or new.local_captured_at is not null) begin "
        f"update source_status set {_BEST_OF.format(id='new.source_id')} "
        "where source_id = new.source_id; end"
    )
    db.execute(
        "create trigger source_best_url after update of url on sources begin "
        f"update source_status set {_BEST_OF.format(id='new.id')} where source_id = new.id; end"
    )
    for table in ("source_state", "wayback_state", "captures"):
        for event, row in (("insert", "new"), ("update", "new"), ("delete", "old")):
            db.execute(
                f"create trigger source_best_{table}_{event} after {event} on {table} begin "
                f"update source_status set {_BEST_OF.format(id=f'{row}.source_id')} "
                f"where source_id = {row}.source_id; end"
            )
    db.execute(
        "create trigger source_best_captures_moved after update of source_id on captures "
        f"begin update source_status set {_BEST_OF.format(id='old.source_id')} "
        "where source_id = old.source_id; end"
    )


@migrations()
def m012_requisite_limits(db: Database) -> None:
    """Every requisite attempted is a ``capture_resources`` row, with ``error_type`` and
    ``error_message`` when it failed (no answer: no WARC record either); what a capture's
    limits left out is ``captures.requisites_skipped``, a JSON object reason → count
    (``count``, ``depth``, ``budget``, ``deadline``), null when nothing was."""
    db.execute("alter table capture_resources add column error_type text")
    db.execute("alter table capture_resources add column error_message text")
    db.execute("alter table captures add column requisites_skipped text")


@migrations()
def m013_browser_captures(db: Database) -> None:
    """Browser captures: how each capture was made (``http`` or ``browser``) and its
    provenance record (JSON, also in its WARC); what archiver knows of a resource it made
    (``capture_resources.meta``: a media file's title and duration, …)."""
    db.execute(
        "alter table captures add column method text not null default 'http' "
        "check (method in ('http', 'browser'))"
    )
    db.execute("alter table captures add column provenance text")
    db.execute("alter table capture_resources add column meta text")


@migrations()
def m014_text_of_part_of_a_page(db: Database) -> None:
    """``captures.text_truncated``: 1 when the capture's text and metadata were read from only
    the first ``max_parse_bytes`` of its page (the WARC file holds all of it)."""
    db.execute("alter table captures add column text_truncated integer not null default 0")


@migrations()
def m015_payload_lookup(db: Database) -> None:
    """Finding the record that first stored a payload (a revisit's body, for export and for
    the dashboard's replay) by its SHA-256, without reading every resource row."""
    db.table("capture_resources").create_index(["payload_sha256"], if_not_exists=True)


# What m016's triggers set on the status row of the source ``{id}``: the vantages that reached
# its content at its latest check, and those that did not (``direct``, this machine, among
# them whenever any vantage was asked: it was asked because the direct check failed).
_VANTAGES_OF = """
    (vantages_reached, vantages_failed) = (
        (select group_concat(vantage, ', ') from (select vantage from vantage_state
         where source_id = {id} and outcome in ('ok', 'redirected') order by vantage)),
        (select group_concat(vantage, ', ') from (
            select vantage from vantage_state
            where source_id = {id} and outcome not in ('ok', 'redirected')
            union select 'direct' where exists (select 1 from vantage_state
                                                where source_id = {id})
            order by 1)))
"""


_OUTCOMES = "('ok', 'redirected', 'soft_404', 'blocked', 'failing')"


@migrations()
def m016_vantage_points(db: Database) -> None:
    """What each vantage point (a proxy elsewhere) saw of a source that failed from here:
    ``vantage_checks``, every recheck (history); ``vantage_state``, what each vantage saw at
    the source's latest check (none when that check needed no second opinion)."""
    db.execute(
        f"""
        create table vantage_checks (
            id integer primary key,
            run_id integer not null references check_runs(id),
            source_id integer not null references sources(id),
            vantage text not null, checked_at text not null,
            status_code integer, final_url text, error_type text, error_message text,
            elapsed_ms integer,
            outcome text not null check (outcome in {_OUTCOMES}), reason text
        )
        """
    )
    db.table("vantage_checks").create_index(["source_id", "id"])
    db.execute(
        f"""
        create table vantage_state (
            source_id integer not null references sources(id),
            vantage text not null, run_id integer not null, checked_at text not null,
            status_code integer, error_type text,
            outcome text not null check (outcome in {_OUTCOMES}), reason text,
            primary key (source_id, vantage)
        )
        """
    )
    db.execute("alter table captures add column vantage text")
    for column in ("vantages_reached", "vantages_failed"):
        db.execute(f"alter table source_status add column {column} text")
    for event, row in (("insert", "new"), ("update", "new"), ("delete", "old")):
        db.execute(
            f"create trigger source_status_vantage_state_{event} after {event} on vantage_state "
            f"begin update source_status set {_VANTAGES_OF.format(id=f'{row}.source_id')} "
            f"where source_id = {row}.source_id; end"
        )


_HOLDS = "('content', 'block_page', 'login_wall', 'not_found', 'error', 'truncated')"
# A memento's columns, in memento_lookups (each lookup) and memento_state (each now).
_MEMENTO_COLUMNS = f"""
    source_id integer not null references sources(id),
    endpoint text not null, archive text not null, target_date text,
    looked_up_at text not null,
    via text check (via in ('timemap', 'timegate', 'memento')),
    mementos integer, pages integer,
    memento_url text, memento_datetime text, status integer,
    holds text check (holds in {_HOLDS}), holds_reason text,
    error_type text, error_message text
"""

# What m017's triggers set on the status row of the source ``{id}``: which other web archives
# hold a memento of its content, and from when ("elsewhere 2018-03-20, loc 2019-01-02").
_MEMENTOS_OF = """
    mementos = (select group_concat(held, ', ') from (
        select archive || ' ' || substr(memento_datetime, 1, 10) as held from memento_state
        where source_id = {id} and holds = 'content' order by archive))
"""


@migrations()
def m017_mementos(db: Database) -> None:
    """Other web archives over Memento: ``memento_lookups``, every lookup of a source in an
    endpoint (one row per archive holding a memento, for an aggregator), history;
    ``memento_state``, each source's memento nearest its citation date per archive now,
    with its status and what it holds."""
    db.execute(f"create table memento_lookups (id integer primary key, {_MEMENTO_COLUMNS})")
    db.table("memento_lookups").create_index(["source_id", "endpoint", "looked_up_at"])
    db.execute(f"create table memento_state ({_MEMENTO_COLUMNS}, primary key (source_id, archive))")
    db.execute("alter table source_status add column mementos text")
    for event, row in (("insert", "new"), ("update", "new"), ("delete", "old")):
        db.execute(
            f"create trigger source_status_memento_state_{event} after {event} on memento_state "
            f"begin update source_status set {_MEMENTOS_OF.format(id=f'{row}.source_id')} "
            f"where source_id = {row}.source_id; end"
        )


# m018's ranking: m011's, with each other web archive's memento (Memento) as a copy too, and
# the archive that holds a copy (``archive``: null but for mementos).
_SOURCE_COPIES_ELSEWHERE = f"""
    create view source_copies as
    with copies as (
        select st.source_id, 'live' as kind, 1 as kind_order, 'content' as holds,
               coalesce(st.final_url, s.url) as url, null as path, st.checked_at as at,
               null as timestamp, coalesce(st.drifted, 0) as drifted, null as capture_id,
               null as archive
        from source_state st join sources s on s.id = st.source_id
        where st.verdict in ('ok', 'redirected')
        union all
        select source_id, 'wayback_nearest', 2, {_WAYBACK_HOLDS.format(status="nearest_status")},
               nearest_url, null, {_WAYBACK_MOMENT.format(ts="nearest_timestamp")},
               nearest_timestamp, 0, null, null
        from wayback_state where nearest_timestamp is not null
        union all
        select source_id, 'wayback_newest', 3, 'content', newest_url, null,
               {_WAYBACK_MOMENT.format(ts="newest_timestamp")}, newest_timestamp, 0, null, null
        from wayback_state
        where newest_timestamp is not null and newest_url is not nearest_url
        union all
        select source_id, 'local', 4, holds, null, warc_path, captured_at, null,
               coalesce(drifted, 0), id, null
        from captures where status = 'captured'
        union all
        -- What a memento holds is known once its status was listed or its bytes were read.
        select source_id, 'memento', 5, holds, memento_url, null, memento_datetime, null, 0,
               null, archive
        from memento_state
        where memento_url is not null and memento_datetime is not null and holds is not null
    )
    select c.*, m.cited_on, {_BEFORE} as before_citation,
           row_number() over (
               partition by c.source_id
               order by c.holds is not 'content', c.drifted, not {_BEFORE},
                        case when {_BEFORE} then c.at end desc,
                        case when c.holds = 'content' then c.at end,
                        c.at desc, c.kind_order, c.capture_id, c.archive
           ) as place
    from copies c join source_status m on m.source_id = c.source_id
"""
# What m018's triggers set on the status row of the source ``{id}``: m011's best copy, and
# the archive holding it when it is a memento.
_BEST_ELSEWHERE_OF = """
    (best_kind, best_holds, best_url, best_path, best_at, best_drifted, best_reason,
     best_archive) = (
        select b.kind, b.holds, b.url, b.path, b.at, coalesce(b.drifted, 0),
               case when b.kind is null then null
                    when b.drifted then 'the ' || case b.kind when 'live' then 'live page'
                        when 'local' then 'local copy' else 'Wayback copy' end
                        || ', though its text changed since it was cited: '
                        || 'no other copy holds the cited content'
                    when b.cited_on is null then 'no citation date is known'
                    when b.before_citation then
                        'the nearest copy from before the citation date, ' || b.cited_on
                    else 'the nearest copy after the citation date, ' || b.cited_on end,
               b.archive
        from (select 1) left join source_copies b
          on b.source_id = {id} and b.place = 1 and b.holds = 'content')
"""


@migrations()
def m018_mementos_are_copies(db: Database) -> None:
    """Mementos in other web archives join the one best-copy ranking (``source_copies``):
    a source whose only surviving copy is in archive.today gets it as its best copy;
    ``source_status.best_archive`` names the archive holding a best copy that is a memento.
    m011's triggers are made again, as the view they read changed."""
    db.execute("alter table source_status add column best_archive text")
    for trigger in [
        row[0]
        for row in db.execute(
            "select name from sqlite_master where type = 'trigger' and name like 'source_best_%'"
        )
    ]:
        db.execute(f"drop trigger [{trigger}]")
    db.execute("drop view source_copies")
    db.execute(_SOURCE_COPIES_ELSEWHERE)
    best = _BEST_ELSEWHERE_OF
    db.execute(
        "create trigger source_best_cited_on after update of cited_on on source_status "
        "when old.cited_on is not new.cited_on and (new.verdict in ('ok', 'redirected') "
        "or new.wayback_timestamp is not null or new.archive_newest is not null "
        "or new.local_captured_at is not null "
        "or exists (select 1 from memento_state ms where ms.source_id = new.source_id)) begin "
        f"update source_status set {best.format(id='new.source_id')} "
        "where source_id = new.source_id; end"
    )
    db.execute(
        "create trigger source_best_url after update of url on sources begin "
        f"update source_status set {best.format(id='new.id')} where source_id = new.id; end"
    )
    for table in ("source_state", "wayback_state", "captures", "memento_state"):
        for event, row in (("insert", "new"), ("update", "new"), ("delete", "old")):
            db.execute(
                f"create trigger source_best_{table}_{event} after {event} on {table} begin "
                f"update source_status set {best.format(id=f'{row}.source_id')} "
                f"where source_id = {row}.source_id; end"
            )
    db.execute(
        "create trigger source_best_captures_moved after update of source_id on captures "
        f"begin update source_status set {best.format(id='old.source_id')} "
        "where source_id = old.source_id; end"
    )
    db.execute(f"update source_status set {best.format(id='source_status.source_id')}")
