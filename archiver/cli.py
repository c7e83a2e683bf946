"""The ``archiver`` command: parses options, calls the library, prints. Nothing else."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import click
from sqlite_utils import Database

from .check import CheckSummary, check_options, check_sources
from .config import Settings, load_settings
from .db import open_db
from .errors import ArchiverError
from .importer import ImportResult, import_report
from .ingest import FORMATS, iso_date, read_report
from .ingest.csvfile import write_csv
from .status import STATUS_COLUMNS, citation_rows, number_ranges, report_rows
from .version import __version__

# Lines of per-source detail a command prints before pointing at `archiver status`.
MAX_LISTED = 50


class Context:
    """What every command gets: the settings, read once, and the database opened on demand."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._db: Database | None = None
        self.last_check: CheckSummary | None = None

    def invoke_command(self, command: click.Command, **options: Any) -> None:
        """Run another command with its defaults, as `archiver run` strings them together."""
        click.get_current_context().invoke(command, **options)

    @property
    def db(self) -> Database:
        if self._db is None:
            self._db = open_db(self.settings.db)
        return self._db


class ArchiverGroup(click.Group):
    """Turns the library's errors into one-line messages instead of tracebacks."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ArchiverError as exc:
            raise click.ClickException(str(exc)) from exc
        except sqlite3.Error as exc:
            # Disk full, a locked or damaged file: say so; the transaction was rolled back.
            raise click.ClickException(f"database error: {exc}") from exc


pass_context = click.make_pass_decorator(Context)


def _date_option(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return iso_date(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.group(cls=ArchiverGroup)
@click.version_option(__version__, prog_name="archiver")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Settings file (default: archiver.toml in the current folder, if present).",
)
@click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Database file (setting `db`, default db/archive.sqlite).",
)
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None, db: Path | None) -> None:
    """Keep the sources cited in published reports alive."""
    try:
        settings = load_settings(config_path, environ=os.environ, overrides={"db": db})
    except ArchiverError as exc:
        raise click.ClickException(str(exc)) from exc
    ctx.obj = Context(settings)


@cli.command()
@pass_context
def run(context: Context) -> None:
    """Run the main job: import the `citations` file, check, capture, and Wayback.

    When the check finds the network down, nothing further is tried and no verdict changes.
    """
    path = context.settings.citations
    if not path.exists():
        raise ArchiverError(
            f"{path}: citations file not found; run from the project folder, "
            "or set `citations` in archiver.toml or ARCHIVER_CITATIONS"
        )
    from .report import source_states

    for parsed in read_report(path):
        _print_import(import_report(context.db, parsed, file_format="csv"))
    before = source_states(context.db)
    context.invoke_command(check)
    if context.last_check is not None and context.last_check.inconclusive:
        click.echo("Skipping capture and Wayback: the network is unreachable from here.")
    else:
        context.invoke_command(archive)
    _print_changes(before, source_states(context.db))


def _print_changes(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]) -> None:
    """The main job's last words: what changed since the run began, in one line and a list."""
    from .report import changes

    found = changes(before, after)
    click.echo(
        "Since the last run: "
        + ", ".join(f"{len(urls)} {kind.replace('_', ' ')}" for kind, urls in found.items())
        + "."
    )
    for kind, urls in found.items():
        if kind == "newly_archived":
            continue  # good news needs no list
        for url in urls[:MAX_LISTED]:
            click.echo(f"  {kind.replace('_', ' ')}: {url}")


@cli.command(name="import")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--report", "report_id", help="Report id (default: from the file, else its name).")
@click.option("--title", help="Report title.")
@click.option("--date", callback=_date_option, help="Report date, YYYY-MM-DD.")
@click.option(
    "--format",
    "file_format",
    type=click.Choice(sorted(FORMATS)),
    help="File format (default: from the file extension).",
)
@click.option("--json", "as_json", is_flag=True, help="Print what changed as JSON.")
@pass_context
def import_(
    context: Context,
    path: Path,
    report_id: str | None,
    title: str | None,
    date: str | None,
    file_format: str | None,
    as_json: bool,
) -> None:
    """Import the footnote citations of a report (CSV, text, PDF, DOCX, HTML, Markdown).

    Importing the same report again updates it: nothing is duplicated, changed footnotes are
    updated, and footnotes no longer in the file are marked removed.

    Example: archiver import report.pdf --report odf-2018-dck --date 2018-04-03
    """
    reports = read_report(path, file_format)
    if len(reports) > 1 and (report_id or title or date):
        ids = ", ".join(r.report_id or "(none)" for r in reports)
        raise ArchiverError(
            f"{path}: holds several reports ({ids}); --report, --title and --date "
            "apply to single-report files only"
        )
    results = [
        import_report(
            context.db, parsed, report_id=report_id, title=title, date=date, file_format=file_format
        )
        for parsed in reports
    ]
    if as_json:
        payload: Any = [r.as_dict() for r in results] if len(results) > 1 else results[0].as_dict()
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
        return
    for result in results:
        _print_import(result)


def _print_import(result: ImportResult) -> None:
    click.echo(
        f"{result.path} → report {result.report}: {len(result.added)} added, "
        f"{len(result.updated)} updated, {len(result.removed)} removed, "
        f"{len(result.restored)} restored, {result.unchanged} unchanged."
    )
    if result.markers_without_urls:
        click.echo(
            f"  Footnote markers without a URL: {number_ranges(result.markers_without_urls)}"
        )
    for skipped in result.skipped:
        where = f"line {skipped['line']}: " if skipped["line"] else ""
        click.echo(f"  Skipped {where}{skipped['url']} ({skipped['reason']})")


@cli.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.argument("output", type=click.File("w", encoding="utf-8", lazy=True))
@click.option("--report", "report_id", help="Report id to write (default: from the file).")
@click.option("--title", help="Report title.")
@click.option("--date", callback=_date_option, help="Report date, YYYY-MM-DD.")
@click.option("--format", "file_format", type=click.Choice(sorted(FORMATS)))
def convert(
    path: Path,
    output: Any,
    report_id: str | None,
    title: str | None,
    date: str | None,
    file_format: str | None,
) -> None:
    """Write a report's citations as a citations CSV (to review before importing).

    Example: archiver convert report.txt citations.csv --report odf-2018-dck
    """
    reports = read_report(path, file_format)
    for parsed in reports:
        parsed.report_id = report_id or parsed.report_id
        parsed.title = title or parsed.title
        parsed.date = date or parsed.date
    rows = write_csv(reports, output)
    click.echo(f"Wrote {rows} row(s) to {output.name}.", err=True)


@cli.command()
@click.option("--report", "report_id", help="Only the sources this report cites.")
@click.option("--url", help="Only this cited URL.")
@click.option("--json", "as_json", is_flag=True, help="Print the run's summary as JSON.")
@pass_context
def check(context: Context, report_id: str | None, url: str | None, as_json: bool) -> None:
    """Check cited sources and update their verdicts (ok, redirected, soft_404, blocked,
    failing, dead; drifted when the text changed).

    A run that cannot reach the internet changes no verdict and says so.

    Example: archiver check --report odf-2018-kazakhstan-dck
    """
    if report_id and url:
        raise click.UsageError("give --report or --url, not both")
    started = time.monotonic()
    with _progress("Checking") as on_progress:
        summary = check_sources(
            context.db,
            check_options(context.settings),
            report_id=report_id,
            url=url,
            on_progress=on_progress,
        )
    context.last_check = summary
    if as_json:
        click.echo(json.dumps(summary.as_dict(), ensure_ascii=False, indent=2))
        return
    counts = ", ".join(f"{n} {verdict}" for verdict, n in sorted(summary.verdicts.items()))
    if summary.inconclusive:
        click.echo(f"Run {summary.run_id}: {summary.message}.")
    else:
        click.echo(
            f"Checked {summary.checked} source(s) in {time.monotonic() - started:.1f} s: {counts}."
        )
    # A first check of everything is one change per source: list what changed from a verdict.
    changes = [c for c in summary.changes if c["from"] != "unchecked"]
    first = len(summary.changes) - len(changes)
    if first:
        click.echo(f"  {first} source(s) checked for the first time")
    for change in changes[:MAX_LISTED]:
        click.echo(f"  {change['url']}: {change['from']} → {change['to']} ({change['reason']})")
    if len(changes) > MAX_LISTED:
        click.echo(f"  … and {len(changes) - MAX_LISTED} more changes: see `archiver status`")
    for url_ in summary.drifted:
        click.echo(f"  {url_}: drifted (its text changed since the first check)")


@cli.command()
@click.option("--report", "report_id", help="Only the sources this report cites.")
@click.option("--url", help="Only this cited URL.")
@click.option("--force", is_flag=True, help="Capture every selected source, changed or not.")
@click.option("--json", "as_json", is_flag=True, help="Print the run's summary as JSON.")
@pass_context
def capture(
    context: Context, report_id: str | None, url: str | None, force: bool, as_json: bool
) -> None:
    """Capture local copies (WARC, text, hashes) of sources not captured yet or changed.

    Example: archiver capture --report odf-2018-kazakhstan-dck
    """
    from .capture import capture_options, capture_sources  # on demand: warcio

    if report_id and url:
        raise click.UsageError("give --report or --url, not both")
    with _progress("Capturing") as on_progress:
        summary = capture_sources(
            context.db,
            capture_options(context.settings),
            report_id=report_id,
            url=url,
            force=force,
            on_progress=on_progress,
        )
    if as_json:
        click.echo(json.dumps(summary.as_dict(), ensure_ascii=False, indent=2))
        return
    click.echo(
        f"Captured {summary.captured} new, {summary.revisits} unchanged (revisit records), "
        f"{summary.failed} failed, of {summary.selected} selected; "
        f"{summary.bytes / 1e6:.1f} MB fetched into {context.settings.data_dir}."
    )
    if summary.message:
        click.echo(f"  {summary.message}")
    for failure in summary.failures:
        click.echo(f"  failed: {failure['url']} ({failure['error']})")


@cli.command()
@click.argument("query")
@click.option("--report", "report_id", help="Only sources this report cites.")
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON.")
@pass_context
def search(context: Context, query: str, report_id: str | None, as_json: bool) -> None:
    """Full-text search over captured pages (any language: синими finds синими шарами).

    Example: archiver search "синими шарами" --report odf-2018-kazakhstan-dck
    """
    from .retrieve import search_text

    rows = search_text(context.db, query, report_id)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo("No captured page matches.", err=True)
    for row in rows:
        notes = ", ".join(f"{n['report']} fn {n['footnote']}" for n in row["footnotes"])
        click.echo(f"{row['url']}  [{notes}]\n  {row['title'] or ''}\n  {row['snippet']}")


@cli.command()
@click.argument("ref")
@click.option("--report", "report_id", help="The report whose footnote REF is.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--open", "open_", is_flag=True, help="Open the best copy in a browser.")
@pass_context
def get(context: Context, ref: str, report_id: str | None, as_json: bool, open_: bool) -> None:
    """Show what is stored for one source: REF is a URL, or a footnote number with --report.

    --json prints an object with url, verdict, local ({path, sha256, captured_at, warc} or
    null), every capture, `copies` (most useful first: live, wayback_nearest, wayback_newest,
    local) and `best`; a footnote citing two URLs prints a list of two.

    Example: archiver get 14 --report odf-2018-kazakhstan-dck --open
    """
    from .retrieve import open_best, resolve_ref, source_copies

    source_ids = resolve_ref(context.db, ref, report_id)
    found = [
        source_copies(context.db, source_id, context.settings.data_dir) for source_id in source_ids
    ]
    if open_:
        for source_id, item in zip(source_ids, found, strict=True):
            opened = open_best(context.db, source_id, item, context.settings.data_dir)
            click.echo(
                f"Opened {opened}" if opened else f"{item['url']}: no copy to open", err=True
            )
    if as_json:
        click.echo(json.dumps(found[0] if len(found) == 1 else found, ensure_ascii=False, indent=2))
        return
    for item in found:
        click.echo(
            f"{item['url']}\n  verdict: {item['verdict']}"
            + (f" ({item['reason']}, since {item['since']})" if item["reason"] else "")
        )
        local = item["local"]
        if local:
            click.echo(
                f"  local copy: {local['path']} (captured {local['captured_at']}, "
                f"sha256 {local['sha256']})"
            )
        else:
            click.echo("  local copy: none yet (archiver capture)")
        for copy in item["copies"]:
            where = copy.get("url") or copy.get("path")
            when = copy.get("timestamp") or copy.get("captured_at") or ""
            click.echo(f"  {copy['kind']}: {where} {when}".rstrip())


@cli.command()
@click.argument("ref")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--report", "report_id", help="The report whose footnote REF is.")
@pass_context
def export(context: Context, ref: str, directory: Path, report_id: str | None) -> None:
    """Write a captured page and its requisites as files a browser opens offline.

    Example: archiver export https://rus.azattyq.org/a/29115065.html ./fn14
    """
    from .retrieve import export_capture, resolve_ref

    source_ids = resolve_ref(context.db, ref, report_id)
    for n, source_id in enumerate(source_ids):
        target = directory if len(source_ids) == 1 else directory / str(n + 1)
        index = export_capture(context.db, source_id, context.settings.data_dir, target)
        click.echo(f"Wrote {index}")


@cli.command()
@click.option("--report", "report_id", help="Only captures of sources this report cites.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_context
def verify(context: Context, report_id: str | None, as_json: bool) -> None:
    """Re-hash every stored WARC file and payload; exit 1 if anything is altered or missing.

    Example: archiver verify
    """
    from .verify import verify_captures

    result = verify_captures(context.db, context.settings.data_dir, report_id)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "ok": result.ok,
                    "files": result.files,
                    "payloads": result.payloads,
                    "problems": result.problems,
                },
                indent=2,
            )
        )
    else:
        for problem in result.problems:
            click.echo(f"{problem['path']}: {problem['problem']}", err=True)
        click.echo(
            f"Verified {result.files} WARC file(s), {result.payloads} payload(s): "
            + ("all intact." if result.ok else f"{len(result.problems)} problem(s).")
        )
    if not result.ok:
        sys.exit(1)


@cli.command()
@click.option("--report", "report_id", help="Only the sources this report cites.")
@click.option("--url", help="Only this cited URL.")
@click.option("--lookup-only", is_flag=True, help="Find existing copies; save nothing.")
@click.option("--save-only", is_flag=True, help="Save what needs saving; no new lookups.")
@click.option("--json", "as_json", is_flag=True, help="Print the run's summary as JSON.")
@pass_context
def wayback(
    context: Context,
    report_id: str | None,
    url: str | None,
    lookup_only: bool,
    save_only: bool,
    as_json: bool,
) -> None:
    """Find each source's Wayback Machine copy nearest its citation date, and save new ones.

    Saving needs archive.org keys (wayback_access_key, wayback_secret_key); without them only
    lookups run. Calls stay within the Archive's rate limits and pause after a 429.

    Example: archiver wayback --report odf-2018-kazakhstan-dck --lookup-only
    """
    from .wayback import wayback_options
    from .wayback_save import lookup_and_save

    if lookup_only and save_only:
        raise click.UsageError("give --lookup-only or --save-only, not both")
    if report_id and url:
        raise click.UsageError("give --report or --url, not both")
    with _progress("Wayback") as on_progress:
        summary = lookup_and_save(
            context.db,
            wayback_options(context.settings),
            report_id=report_id,
            url=url,
            do_lookup=not save_only,
            do_save=not lookup_only,
            on_progress=on_progress,
        )
    if as_json:
        click.echo(json.dumps(summary.as_dict(), ensure_ascii=False, indent=2))
        return
    click.echo(
        f"Wayback: looked up {summary.looked_up}, {summary.found} with a copy near their date; "
        f"{summary.message}."
    )


@cli.command()
@click.option("--report", "report_id", help="Only the sources this report cites.")
@pass_context
def archive(context: Context, report_id: str | None) -> None:
    """Capture local copies and look up / save Wayback copies, one after the other.

    Example: archiver archive --report odf-2018-kazakhstan-dck
    """
    context.invoke_command(capture, report_id=report_id)
    context.invoke_command(wayback, report_id=report_id)


@contextlib.contextmanager
def _progress(label: str) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on a terminal; nothing in logs and pipes (the summary line says it all)."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.progress import Progress

    with Progress(transient=True) as progress:
        task = progress.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield update


@cli.command()
@click.option("--report", "report_id", help="Only this report.")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
)
@pass_context
def status(context: Context, report_id: str | None, output_format: str) -> None:
    """List every cited URL with its current verdict, one row per citation.

    Example: archiver status --report odf-2018-dck --format json
    """
    rows = citation_rows(context.db, report_id)
    if output_format == "json":
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
    elif output_format == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]) if rows else STATUS_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    else:
        _print_table(rows, STATUS_COLUMNS)


@cli.command()
@click.option("--report", "report_id", help="Only this report.")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["md", "html", "csv", "json"]),
    default="md",
    show_default=True,
)
@click.option(
    "--output",
    type=click.File("w", encoding="utf-8", lazy=True),
    default="-",
    help="File to write (default: standard output).",
)
@click.option(
    "--annotated", is_flag=True, help="Write the footnotes with archive links (md or html)."
)
@pass_context
def report(
    context: Context, report_id: str | None, output_format: str, output: Any, annotated: bool
) -> None:
    """Report which cited sources are broken and what to use instead; counts match `status`.

    --annotated writes the footnotes ready to publish, each URL followed by its Wayback copy
    (HTML: Robust Links, data-versionurl and data-versiondate).

    Example: archiver report --report odf-2018-dck --format html --output report.html
    """
    from .report import annotated as annotated_footnotes
    from .report import build_report, render

    if annotated and output_format not in ("md", "html"):
        raise click.UsageError("--annotated writes md or html")
    data = build_report(context.db, report_id)
    output.write(
        annotated_footnotes(data, output_format) if annotated else render(data, output_format)
    )


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
def reports(context: Context, as_json: bool) -> None:
    """List reports with their footnote, citation and source counts."""
    rows = report_rows(context.db)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        row["markers_without_urls"] = number_ranges(row["markers_without_urls"])
    _print_table(
        rows,
        (
            "report",
            "title",
            "date",
            "footnotes",
            "citations",
            "sources",
            "removed",
            "markers_without_urls",
        ),
    )


@cli.command()
@pass_context
def settings(context: Context) -> None:
    """Show every setting's current value, and the variable that overrides it."""
    for key, value in context.settings.as_dict().items():
        if Settings.is_secret(key) and value:
            value = "*** (set)"
        click.echo(f"{key} = {value}    # ARCHIVER_{key.upper()}: {Settings.help(key)}")


@cli.command()
@click.option("--list", "list_jobs", is_flag=True, help="List the jobs and their next run times.")
@pass_context
def schedule(context: Context, list_jobs: bool) -> None:
    """Run the scheduler (the long-running service; same as `python scheduler.py`): import,
    check and capture, Wayback and verify on their cadences, until SIGTERM or Ctrl-C.

    One scheduler per database: a second one says so and exits with status 1.

    Example: archiver schedule --list
    """
    from .schedule import job_rows, serve

    if list_jobs:
        rows = job_rows(context.settings)
        for row in rows:
            row["next_run"] = row["next_run"] or "not scheduled yet (starts with the scheduler)"
        _print_table(rows, ("job", "every", "next_run"))
        return
    serve(context.settings)


@cli.command()
@click.option("--limit", default=20, show_default=True, help="How many runs to list.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
def runs(context: Context, limit: int, as_json: bool) -> None:
    """List the scheduler's past job runs, newest first: start, end, status, counts, error.

    Example: archiver runs --limit 5
    """
    from .schedule import run_rows

    rows = run_rows(context.db, limit)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        row["counts"] = " ".join(f"{k}={v}" for k, v in row["counts"].items())
    _print_table(rows, ("id", "job", "started_at", "finished_at", "status", "counts", "error"))


def _print_table(rows: list[dict[str, Any]], columns: Sequence[str]) -> None:
    """A table for people on a terminal; tab-separated lines for scripts and logs."""
    if not rows:
        click.echo("(nothing stored yet: run `archiver import PATH`)", err=True)
        return
    if not sys.stdout.isatty():
        click.echo("\t".join(columns))
        for row in rows:
            click.echo("\t".join("" if row[c] is None else str(row[c]) for c in columns))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(*columns)
    for row in rows:
        table.add_row(*("" if row[c] is None else str(row[c]) for c in columns))
    Console().print(table)
