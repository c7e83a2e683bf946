"""The ``archiver`` command: parses options, calls the library, prints. Nothing else."""

from __future__ import annotations

# isort: off
from . import _startup  # noqa: F401  (first: before anything imports sqlite-utils)

# isort: on
import contextlib
import csv
import itertools
import json
import logging
import os
import re
import sqlite3
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import click
from sqlite_utils import Database

from .config import Settings, load_settings
from .csvsafe import safe_rows
from .errors import ArchiverError
from .ingest import FORMATS, iso_date, read_report
from .ingest.csvfile import write_csv
from .ingest.importer import ImportResult, import_report
from .net.vantage import parse_vantages
from .pipeline import MAIN_JOB as MAIN_STAGES
from .pipeline import MAX_LISTED, RunSummary, run_main_job
from .store import open_db
from .version import __version__
from .views.bestcopy import no_content
from .views.status import (
    CSV_COLUMNS,
    STATUS_COLUMNS,
    citation_rows_json,
    citation_tuples,
    number_ranges,
    report_rows,
)


class Context:
    """What every command gets: the settings, read once, and the database opened on demand."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._db: Database | None = None

    def run(self, *stages: str, job: str, **options: Any) -> RunSummary:
        """Run stages of the main job as one recorded run, with a progress bar on a terminal."""
        with _progress() as on_progress:
            return run_main_job(
                self.db,
                self.settings,
                stages=stages,
                job=job,
                trigger="cli",
                on_progress=on_progress,
                **options,
            )

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
            raise click.ClickException(_cell(str(exc))) from exc
        except BrokenPipeError:
            # The reader stopped early (`archiver status | head`): not an error of ours. Send
            # what is still buffered nowhere, so the interpreter's last flush cannot fail.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(1)
        except sqlite3.Error as exc:
            # Disk full, a locked or damaged file: say so; the transaction was rolled back.
            raise click.ClickException(f"database error: {exc}") from exc
        except OSError as exc:
            # A file the command writes or reads (an export folder, --output): one line.
            where = f"{exc.filename}: " if exc.filename else ""
            raise click.ClickException(f"{where}{exc.strerror or exc}") from exc


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
    # trafilatura logs pages it finds no text in as warnings; for us that is an answer, not
    # news. The application sets this, not the library: a Python caller keeps its own logging.
    logging.getLogger("trafilatura").setLevel(logging.ERROR)
    try:
        settings = load_settings(config_path, environ=os.environ, overrides={"db": db})
    except ArchiverError as exc:
        raise click.ClickException(str(exc)) from exc
    ctx.obj = Context(settings)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the run's summary as JSON.")
@pass_context
def run(context: Context, as_json: bool) -> None:
    """Run the main job: import the `citations` file, check, capture, and Wayback.

    When the check finds the network down, nothing further is tried and no verdict changes.
    Every run is recorded: see `archiver runs`.
    """
    summary = context.run(*MAIN_STAGES, job="run")
    if as_json:
        _print_json(summary.as_dict())
        return
    for result in summary.imports:
        _print_import(result)
    if summary.check is not None:
        _print_check(summary.check)
    if summary.skipped:
        click.echo(f"Skipping {summary.skipped}.")
    if summary.capture is not None:
        _print_capture(summary.capture, context.settings)
    if summary.wayback is not None:
        _print_wayback(summary.wayback)
    for line in summary.lines():
        click.echo(line)


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
    results = []
    reports.reverse()
    while reports:  # each report is let go once stored: a large file is not held twice
        results.append(
            import_report(
                context.db,
                reports.pop(),
                report_id=report_id,
                title=title,
                date=date,
                file_format=file_format,
            )
        )
    if as_json:
        payload: Any = [r.as_dict() for r in results] if len(results) > 1 else results[0].as_dict()
        _print_json(payload)
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
        click.echo(f"  Skipped {where}{_cell(skipped['url'])} ({skipped['reason']})")


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
    _one_scope(report_id, url)
    summary = context.run("check", job="check", report_id=report_id, url=url).check
    if as_json:
        _print_json(summary.as_dict())
        return
    _print_check(summary)


def _print_check(summary: Any) -> None:
    counts = ", ".join(f"{n} {verdict}" for verdict, n in sorted(summary.verdicts.items()))
    if summary.inconclusive:
        click.echo(f"Run {summary.run_id}: {summary.message}.")
    else:
        click.echo(f"Checked {summary.checked} source(s) in {summary.seconds:.1f} s: {counts}.")
    # A first check of everything is one change per source: list what changed from a verdict.
    changes = [c for c in summary.changes if c["from"] != "unchecked"]
    first = len(summary.changes) - len(changes)
    if first:
        click.echo(f"  {first} source(s) checked for the first time")
    for change in changes[:MAX_LISTED]:
        click.echo(
            f"  {_cell(change['url'])}: {change['from']} → {change['to']} ({change['reason']})"
        )
    if len(changes) > MAX_LISTED:
        click.echo(f"  … and {len(changes) - MAX_LISTED} more changes: see `archiver status`")
    for url in summary.drifted:
        click.echo(f"  {_cell(url)}: drifted (its text changed since the first check)")


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
    _one_scope(report_id, url)
    summary = context.run("capture", job="capture", report_id=report_id, url=url, force=force)
    if as_json:
        _print_json(summary.capture.as_dict())
        return
    _print_capture(summary.capture, context.settings)


def _print_capture(summary: Any, settings: Settings) -> None:
    click.echo(
        f"Captured {summary.captured} new, {summary.revisits} unchanged (revisit records), "
        f"{summary.failed} failed, of {summary.selected} selected; "
        f"{summary.bytes / 1e6:.1f} MB fetched into {settings.data_dir}"
        + (f", in Chromium ({summary.browser})." if summary.method == "browser" else ".")
    )
    for note in summary.notes:
        click.echo(f"  {note}")
    if summary.message:
        click.echo(f"  {summary.message}")
    requisites = summary.requisites
    if requisites["stored"] or requisites["failed"] or requisites["skipped"]:
        click.echo(f"  Requisites: {_requisite_counts(requisites)}.")
    for failure in summary.failures[:MAX_LISTED]:
        click.echo(f"  failed: {_cell(failure['url'])} ({failure['error']})")
    for limited in summary.limited[:MAX_LISTED]:
        left_out = ", ".join(f"{reason} {n}" for reason, n in limited["skipped"].items())
        click.echo(f"  requisites left out: {_cell(limited['url'])} ({left_out})")


def _requisite_counts(requisites: dict[str, Any]) -> str:
    """ "12 stored, 1 failed, 100 left out (count 100)": what a capture's limits did."""
    skipped = requisites["skipped"]
    text = f"{requisites['stored']} stored, {requisites['failed']} failed, "
    text += f"{sum(skipped.values())} left out"
    if skipped:
        text += " (" + ", ".join(f"{reason} {n}" for reason, n in skipped.items()) + ")"
    return text


@cli.command()
@click.argument("query")
@click.option("--report", "report_id", help="Only sources this report cites.")
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON.")
@pass_context
def search(context: Context, query: str, report_id: str | None, as_json: bool) -> None:
    """Full-text search over captured pages (any language: синими finds синими шарами).

    Example: archiver search "синими шарами" --report odf-2018-kazakhstan-dck
    """
    from .views.jsonstream import json_array
    from .views.retrieve import search_text

    rows = search_text(context.db, query, report_id)
    out = click.get_text_stream("stdout")
    if as_json:
        out.writelines(_json_safe(piece) for piece in json_array(rows))
        out.write("\n")
        return
    found = False
    for row in rows:
        found = True
        notes = ", ".join(f"{n['report']} fn {n['footnote']}" for n in row["footnotes"])
        out.write(
            f"{_cell(row['url'])}  [{_cell(notes)}]\n  {_cell(row['title'])}\n"
            f"  {_cell(row['snippet'])}\n"
        )
    if not found:
        click.echo("No captured page matches.", err=True)


@cli.command()
@click.argument("ref")
@click.option("--report", "report_id", help="The report whose footnote REF is.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--open", "open_", is_flag=True, help="Open the best copy in a browser.")
@pass_context
def get(context: Context, ref: str, report_id: str | None, as_json: bool, open_: bool) -> None:
    """Show what is stored for one source: REF is a URL, or a footnote number with --report.

    --json prints an object with url, verdict, local ({path, sha256, captured_at, warc, holds,
    requisites: {stored, failed, skipped}} or null), every capture, `copies` (best first:
    live, wayback_nearest, wayback_newest, local, each with `holds`: content, block_page,
    login_wall, not_found, error, truncated), `best` (the kind of the best copy) and
    `best_copy` ({holds, kind, url or path, captured_at, reason}): only ever a copy that holds
    the cited content, the one nearest the citation date; null when none does; `mementos`
    (each other web archive's memento: {archive, url, datetime, status, holds, …}) and
    `vantages` (what each vantage point saw at the latest check: {vantage, reached, outcome,
    reason, …}). A footnote citing two URLs prints a list of two.

    Example: archiver get 14 --report odf-2018-kazakhstan-dck --open
    """
    from .views.retrieve import open_best, resolve_ref, source_copies

    source_ids = resolve_ref(context.db, ref, report_id)
    found = [
        source_copies(context.db, source_id, context.settings.data_dir) for source_id in source_ids
    ]
    if open_:
        for source_id, item in zip(source_ids, found, strict=True):
            opened = open_best(
                context.db,
                source_id,
                item,
                context.settings.data_dir,
                max_bytes=context.settings.max_capture_bytes,
            )
            click.echo(
                f"Opened {_cell(opened)}"
                if opened
                else f"{_cell(item['url'])}: {_no_content(item)}: nothing opened",
                err=True,
            )
    if as_json:
        _print_json(found[0] if len(found) == 1 else found)
        return
    for item in found:
        click.echo(
            f"{_cell(item['url'])}\n  verdict: {item['verdict']}"
            + (f" ({_cell(item['reason'])}, since {item['since']})" if item["reason"] else "")
        )
        best = item["best_copy"]
        if best:
            where = best.get("url") or best.get("path")
            click.echo(f"  best copy: {best['kind']} {_cell(where)} ({_cell(best['reason'])})")
        else:
            click.echo(f"  best copy: none — {_no_content(item)}")
        local = item["local"]
        if local:
            click.echo(
                f"  local copy: {_cell(local['path'])} (captured {local['captured_at']}, "
                f"holds {local['holds']}, sha256 {local['sha256']})"
            )
            click.echo(f"  captured with: {local['method']}")
            for role in ("screenshot", "pdf", "dom"):
                if local[role]:
                    made = local[role]
                    click.echo(f"  {role}: {made['bytes']} bytes, sha256 {made['sha256']}")
            for media in local["media"]:
                click.echo(
                    f"  media: {_cell(media['url'])} ({_cell(media['title'] or 'untitled')}, "
                    f"{media['bytes']} bytes, sha256 {media['sha256']})"
                )
            for note in (local["provenance"] or {}).get("notes") or []:
                click.echo(f"  note: {_cell(note)}")
            click.echo(f"    requisites: {_requisite_counts(local['requisites'])}")
        else:
            click.echo("  local copy: none yet (archiver capture)")
        for copy in item["copies"]:
            where = copy.get("url") or copy.get("path")
            when = copy.get("timestamp") or copy.get("captured_at") or ""
            holds = copy["holds"] + (", drifted" if copy.get("drifted") else "")
            click.echo(f"  {copy['kind']}: {_cell(where)} {when} [{holds}]".rstrip())
        for memento in item["mementos"]:
            held = memento["holds"] or memento["error"] or memento["holds_reason"] or "unknown"
            held_at = f"{_cell(memento['url'])} {memento['datetime']}" if memento["url"] else "none"
            click.echo(f"  in {_cell(memento['archive'])}: {held_at} [{held}]")
        for seen in item["vantages"]:
            said = seen["reason"] or seen["outcome"]
            click.echo(
                f"  through {_cell(seen['vantage'])}: {seen['outcome']} ({_cell(said)})"
                + (" — reached" if seen["reached"] else "")
            )


def _no_content(item: dict[str, Any]) -> str:
    return no_content(item["last_ok_at"])


@cli.command()
@click.argument("ref")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--report", "report_id", help="The report whose footnote REF is.")
@pass_context
def export(context: Context, ref: str, directory: Path, report_id: str | None) -> None:
    """Write a captured page and its requisites as files a browser opens offline.

    The copy is inert: no script, frame or refresh of the page runs, nothing is fetched from
    the network (a Content Security Policy forbids it too), links to the live web are marked,
    and a banner says where and when it was captured, with its SHA-256.

    Example: archiver export https://rus.azattyq.org/a/29115065.html ./fn14
    """
    from .views.retrieve import export_copy, resolve_ref

    source_ids = resolve_ref(context.db, ref, report_id)
    for n, source_id in enumerate(source_ids):
        target = directory if len(source_ids) == 1 else directory / str(n + 1)
        exported = export_copy(
            context.db,
            source_id,
            context.settings.data_dir,
            target,
            max_bytes=context.settings.max_capture_bytes,
            media_max_bytes=context.settings.media_max_bytes,
        )
        click.echo(f"Wrote {exported.index}")
        for note in exported.incomplete:
            click.echo(f"  incomplete: {_cell(note)}")


@cli.command()
@click.argument(
    "bundle_path",
    metavar="[BUNDLE.wacz]",
    required=False,
    type=click.Path(dir_okay=False, path_type=Path),
)
@click.option("--report", "report_id", help="Only captures of sources this report cites.")
@click.option(
    "--key",
    "key_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="With BUNDLE.wacz: the signer's public key (PEM, as `archiver keys show` prints "
    "it); the bundle must be signed with it.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_context
def verify(
    context: Context,
    bundle_path: Path | None,
    report_id: str | None,
    key_path: Path | None,
    as_json: bool,
) -> None:
    """Re-hash every stored WARC file and payload; exit 1 if anything is altered or missing.

    With BUNDLE.wacz (a file ending in .wacz), check that bundle instead, with no database
    and no network: every file against datapackage.json, the package digest, the signature
    (by --key, else by this archiver's own key when it has one), and every WARC record's
    payload digest.

    Example: archiver verify report.wacz --key their-key.pem
    """
    if bundle_path is not None:
        if report_id:
            raise click.UsageError("--report selects stored captures; a bundle is checked whole")
        if not bundle_path.name.lower().endswith(".wacz"):
            raise click.UsageError(
                f"{bundle_path}: archiver verify checks a .wacz bundle; without an argument "
                "it re-hashes the stored captures"
            )
        _verify_bundle(context.settings, bundle_path, key_path, as_json)
        return
    if key_path is not None:
        raise click.UsageError("--key names a bundle's signer: give the BUNDLE.wacz to check")
    result = context.run("verify", job="verify", report_id=report_id).verify
    if as_json:
        _print_json(result.as_dict())
    else:
        for problem in result.problems:
            click.echo(f"{problem['path']}: {problem['problem']}", err=True)
        click.echo(
            f"Verified {result.files} WARC file(s), {result.payloads} payload(s): "
            + ("all intact." if result.ok else f"{len(result.problems)} problem(s).")
        )
    if not result.ok:
        sys.exit(1)


def _verify_bundle(
    settings: Settings, bundle_path: Path, key_path: Path | None, as_json: bool
) -> None:
    from .bundle.check import verify_bundle
    from .bundle.keys import PublicKey, own_public_key, read_public_key

    expected: PublicKey | None
    if key_path is not None:
        expected, named = read_public_key(key_path), f"the key in {key_path}"
    else:
        expected, named = own_public_key(settings.data_dir), "this archiver's key"
    result = verify_bundle(
        bundle_path,
        expected_key=expected,
        expected_as=named,
        require_signature=key_path is not None,
    )
    if as_json:
        _print_json(result.as_dict())
    else:
        for problem in result.problems:
            click.echo(f"{_cell(bundle_path)}: {_cell(problem['problem'])}", err=True)
        if result.ok:
            signed = (
                f"signed by {result.signer} ({'this archiver' if key_path is None else named})"
                if result.signed and result.signer == result.signer_expected
                else ("signed" if result.signed else "not signed")
            )
            click.echo(
                f"{_cell(bundle_path)}: intact — {result.files} file(s) match datapackage.json, "
                f"its digest matches, {result.records} WARC record payload(s) match their "
                f"digests; {signed}."
            )
        else:
            click.echo(f"{_cell(bundle_path)}: NOT intact — {len(result.problems)} problem(s).")
        if result.timestamp:
            click.echo(f"  time-stamped {_cell(result.timestamp)}")
        for note in result.notes[:MAX_LISTED]:
            click.echo(f"  note: {_cell(note)}")
    if not result.ok:
        sys.exit(1)


@cli.command()
@click.option("--report", "report_id", required=True, help="The report to bundle.")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The .wacz file to write (default: REPORT.wacz in the current folder).",
)
@click.option("--sign", is_flag=True, help="Sign it with this archiver's key (keys init).")
@click.option(
    "--all",
    "all_captures",
    is_flag=True,
    help="Every capture of each source, not only the one nearest the citation date and the latest.",
)
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
@pass_context
def bundle(
    context: Context,
    report_id: str,
    output: Path | None,
    sign: bool,
    all_captures: bool,
    as_json: bool,
) -> None:
    """Write a report's evidence as one WACZ file that replay tools open and anyone can check.

    It holds the WARC records of each cited source's captures (the one nearest the citation
    date and the latest, or all with --all), their index, one page per cited source (titled
    with its footnote number and citing sentence), and archiver/manifest.json: the report,
    every footnote with its verdict history and Wayback copies, which capture backs it, and
    each capture's provenance. --sign signs it (WACZ Signing and Verification); with
    `timestamp_url` set, a time-stamping authority adds an RFC 3161 token.

    Example: archiver bundle --report odf-2018-dck --sign
    """
    from .bundle.timestamp import request_token
    from .bundle.wacz import write_bundle

    settings = context.settings
    timestamper = None
    if sign and settings.timestamp_url:

        def timestamper(text: str) -> dict[str, str]:
            return request_token(settings.timestamp_url, text, timeout=settings.timeout)

    target = output or Path(_file_name(report_id) + ".wacz")
    result = write_bundle(
        context.db,
        settings.data_dir,
        report_id,
        target,
        sign=sign,
        all_captures=all_captures,
        timestamper=timestamper,
    )
    if as_json:
        _print_json(result.as_dict())
        return
    click.echo(
        f"Wrote {_cell(result.path)} ({result.bytes / 1e6:.1f} MB): {result.sources} cited "
        f"source(s), {result.pages} page(s), {result.captures} capture(s), {result.records} "
        "WARC record(s) indexed."
    )
    if result.signed_by:
        stamped = ", time-stamped" if result.timestamped else ""
        click.echo(f"  Signed by key {result.signed_by}{stamped} (archiver keys show prints it).")
    for missing in result.without_capture[:MAX_LISTED]:
        click.echo(
            f"  no local capture, not in the bundle: footnote {missing['footnote']} "
            f"{_cell(missing['url'])}"
        )
    if len(result.without_capture) > MAX_LISTED:
        click.echo(f"  … and {len(result.without_capture) - MAX_LISTED} more without a capture")
    click.echo(f"  Check it with: archiver verify {_cell(result.path)}")


def _file_name(text: str) -> str:
    """A report id as a file name: anything but letters, digits, '.', '_' and '-' becomes '-'.

    >>> _file_name("odf/2018 dck")
    'odf-2018-dck'
    """
    name = "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in text).strip(".")
    return name or "bundle"


@cli.group()
def keys() -> None:
    """The key that signs bundles (archiver bundle --sign)."""


@keys.command("init")
@pass_context
def keys_init(context: Context) -> None:
    """Make this archiver's signing key (ECDSA P-256), readable only by you, under data_dir.

    An existing key is never replaced.
    """
    from .bundle.keys import init_key, key_paths

    public = init_key(context.settings.data_dir)
    private_path, public_path = key_paths(context.settings.data_dir)
    click.echo(f"Made a signing key: {private_path} (mode 0600; keep it, do not share it).")
    click.echo(f"  public key: {public_path}")
    click.echo(f"  fingerprint: {public.fingerprint}")
    click.echo("Give people the public key (archiver keys show) to check your bundles with.")


@keys.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
def keys_show(context: Context, as_json: bool) -> None:
    """Print the public key that checks this archiver's bundles (PEM on standard output, so
    `archiver keys show > my-key.pem` writes the file to hand out), and its fingerprint."""
    from .bundle.keys import key_paths, own_public_key

    public = own_public_key(context.settings.data_dir)
    if public is None:
        raise ArchiverError("no signing key yet: make one with `archiver keys init`")
    if as_json:
        _print_json(
            {
                "algorithm": public.algorithm,
                "fingerprint": public.fingerprint,
                "public_key": public.base64,
                "pem": public.pem,
                "path": str(key_paths(context.settings.data_dir)[1]),
            }
        )
        return
    click.echo(public.pem, nl=False)
    click.echo(f"{public.algorithm}, fingerprint {public.fingerprint}", err=True)


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
    if lookup_only and save_only:
        raise click.UsageError("give --lookup-only or --save-only, not both")
    _one_scope(report_id, url)
    summary = context.run(
        "wayback",
        job="wayback",
        report_id=report_id,
        url=url,
        lookup=not save_only,
        save=not lookup_only,
    ).wayback
    if as_json:
        _print_json(summary.as_dict())
        return
    _print_wayback(summary)


def _print_wayback(summary: Any) -> None:
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
    summary = context.run("capture", "wayback", job="archive", report_id=report_id)
    _print_capture(summary.capture, context.settings)
    _print_wayback(summary.wayback)


def _one_scope(report_id: str | None, url: str | None) -> None:
    if report_id and url:
        raise click.UsageError("give --report or --url, not both")


def _print_json(data: Any) -> None:
    click.echo(_json_safe(json.dumps(data, ensure_ascii=False, indent=2)))


@contextlib.contextmanager
def _progress() -> Iterator[Callable[[str], Callable[[int, int], None] | None]]:
    """Progress bars on a terminal, one per stage; nothing in logs and pipes (the summary
    lines say it all)."""
    if not sys.stderr.isatty():
        yield lambda stage: None
        return
    from rich.progress import Progress

    with Progress(transient=True) as progress:

        def for_stage(stage: str) -> Callable[[int, int], None]:
            task = progress.add_task(stage.capitalize(), total=None)

            def update(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            return update

        yield for_stage


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

    Each row names the source's best copy (`best_copy`, as `get --json` shows it: the copy
    that holds the cited content nearest the citation date, or null when none does).

    Example: archiver status --report odf-2018-dck --format json
    """
    out = click.get_text_stream("stdout")
    data_dir = context.settings.data_dir
    if output_format == "json":
        out.flush()
        binary = click.get_binary_stream("stdout")
        binary.writelines(citation_rows_json(context.db, report_id, data_dir))
        binary.write(b"\n")
    elif output_format == "csv":
        columns = [name for name, _ in CSV_COLUMNS]
        writer = csv.writer(out)
        writer.writerow(columns)
        # Cited pages' text ends up in cells: no cell may start a spreadsheet formula.
        writer.writerows(safe_rows(citation_tuples(context.db, columns, report_id, data_dir)))
    else:
        rows = citation_tuples(context.db, STATUS_COLUMNS, report_id, data_dir)
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

    Each row names the source's best copy, as `get` and `status` do; what to use instead is
    the best copy of a broken or drifted source.

    --annotated writes the footnotes ready to publish, each URL followed by its Wayback copy
    (HTML: Robust Links, data-versionurl and data-versiondate).

    Example: archiver report --report odf-2018-dck --format html --output report.html
    """
    from .views.report import write_annotated, write_report

    if annotated and output_format not in ("md", "html"):
        raise click.UsageError("--annotated writes md or html")
    if annotated:
        write_annotated(context.db, report_id, output_format, output)
    else:
        write_report(context.db, report_id, output_format, output, context.settings.data_dir)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
def reports(context: Context, as_json: bool) -> None:
    """List reports with their footnote, citation and source counts."""
    rows = report_rows(context.db)
    if as_json:
        _print_json(rows)
        return
    for row in rows:
        row["markers_without_urls"] = number_ranges(row["markers_without_urls"])
    _print_dicts(
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
        elif Settings.has_credentials(key):
            value = tuple(vantage.shown for vantage in parse_vantages(value))
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
        _print_dicts(rows, ("job", "every", "next_run"))
        return
    serve(context.settings)


@cli.command()
@click.option("--host", help="Address to listen on (setting serve_host, default 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (setting serve_port, default 8000).")
@click.option("--read-only", is_flag=True, help="Pages only: no check, capture or save buttons.")
@pass_context
def serve(context: Context, host: str | None, port: int | None, read_only: bool) -> None:
    """Serve the dashboard: reports, footnotes, sources, search, replayed captures, and
    buttons to check, capture or save now. Listens on 127.0.0.1 unless told otherwise; any
    other address needs serve_token, which every request must then carry.

    Example: archiver serve --port 8000
    """
    from .web.server import DashboardServer

    server = DashboardServer(context.settings, host=host, port=port, read_only=read_only)
    try:
        if server.replay is not None:
            server.replay.start()
            replay = f"captures replayed by pywb on port {server.replay.port}"
    except ArchiverError as exc:
        replay = f"no replay: {exc}"
    click.echo(f"Dashboard: {server.url}" + (" (read-only)" if read_only else ""))
    click.echo(f"  {replay[0].upper()}{replay[1:]}.")
    if context.settings.serve_token:
        click.echo("  Every request needs the token (serve_token): a login form asks for it.")
    click.echo("  Ctrl-C to stop.")
    server.run()


@cli.command()
@click.option("--limit", default=20, show_default=True, help="How many runs to list.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
def runs(context: Context, limit: int, as_json: bool) -> None:
    """List past runs, newest first: the main job and each stage, from the CLI (trigger cli)
    or the scheduler (trigger schedule), with start, end, status, counts and error.

    Example: archiver runs --limit 5
    """
    from .store.runs import run_rows

    rows = run_rows(context.db, limit)
    if as_json:
        _print_json(rows)
        return
    for row in rows:
        row["counts"] = " ".join(f"{k}={v}" for k, v in row["counts"].items())
    _print_dicts(
        rows, ("id", "job", "trigger", "started_at", "finished_at", "status", "counts", "error")
    )


# A terminal shows a table of up to this many rows; more stream as tab-separated lines.
_SCREEN_ROWS = 1000
# Control characters in a stored value (a hostile page's title, a report's context) would
# move the cursor, recolour or retitle the terminal, or split a tab-separated line; bidi
# overrides would show text in another order than it is stored.
_PRINTABLE = str.maketrans(
    {c: " " for c in (9, 10, 13, 0x2028, 0x2029)}
    | {c: "\ufffd" for c in (*range(32), *range(127, 160)) if c not in (9, 10, 13)}
    | {c: "\ufffd" for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))}
)


# JSON escapes C0 controls but writes C1 ones (U+0080-U+009F) as they are, and some terminals
# obey those (U+009B begins a control sequence as ESC [ does); bidi controls too. Written as
# \u escapes they are the same JSON value to any parser.
_JSON_UNSAFE = re.compile("[\x80-\x9f\u202a-\u202e\u2066-\u2069]")


def _json_safe(text: str) -> str:
    return _JSON_UNSAFE.sub(lambda found: f"\\u{ord(found.group()):04x}", text)


def _cell(value: Any) -> str:
    return "" if value is None else str(value).translate(_PRINTABLE)


def _print_dicts(rows: list[dict[str, Any]], columns: Sequence[str]) -> None:
    _print_table((tuple(row[c] for c in columns) for row in rows), columns)


def _print_table(rows: Iterable[Sequence[Any]], columns: Sequence[str]) -> None:
    """A table for people on a terminal; tab-separated lines for scripts, logs, and more rows
    than a screen holds, written as they are read."""
    rows = iter(rows)
    first = list(itertools.islice(rows, _SCREEN_ROWS + 1))
    if not first:
        click.echo("(nothing stored yet: run `archiver import PATH`)", err=True)
        return
    out = click.get_text_stream("stdout")
    if not out.isatty() or len(first) > _SCREEN_ROWS:
        out.write("\t".join(columns) + "\n")
        for row in itertools.chain(first, rows):
            out.write("\t".join(map(_cell, row)) + "\n")
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(*columns)
    for row in first:
        table.add_row(*(Text(_cell(v)) for v in row))
    Console().print(table)
