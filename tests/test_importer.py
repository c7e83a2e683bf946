"""Re-importing is idempotent; changes, removals and returns are recorded, never lost."""

from pathlib import Path

import pytest
from conftest import write
from sqlite_utils import Database

from archiver.errors import InvalidURL
from archiver.ingest import read_report
from archiver.ingest.importer import import_report
from archiver.ingest.model import CitedURL, ParsedReport


def counts(db: Database) -> dict[str, int]:
    return {t: db[t].count for t in ("reports", "sources", "citations", "citation_changes")}


def import_csv(db: Database, path: Path, **options: str) -> dict[str, object]:
    (parsed,) = read_report(path)
    return import_report(db, parsed, **options).as_dict()


def test_same_url_in_two_footnotes_is_one_source_two_citations(
    db: Database, tmp_path: Path
) -> None:
    path = write(
        tmp_path / "r.csv",
        "footnote,url\n3,https://www.facebook.com/permalink.php?story_fbid=1&id=2\n"
        "5,https://FACEBOOK.com/x\n5,https://www.facebook.com/permalink.php?story_fbid=1&id=2&utm_source=tw\n",
    )
    import_csv(db, path)
    assert db["sources"].count == 2
    assert db["citations"].count == 3
    source_ids = {r["source_id"] for r in db["citations"].rows_where("footnote in (3, 5)")}
    assert len(source_ids) == 2


def test_reimport_is_idempotent(db: Database, tmp_path: Path) -> None:
    path = write(
        tmp_path / "r.csv", "footnote,url,context\n1,https://a.kz/,One.\n2,https://b.kz/,Two.\n"
    )
    first = import_csv(db, path, report_id="r", title="T", date="2018-04-03")
    before = counts(db)
    second = import_csv(db, path, report_id="r")
    assert len(first["added"]) == 2  # type: ignore[arg-type]
    assert second["added"] == second["updated"] == second["removed"] == []
    assert second["unchanged"] == 2
    assert counts(db) == before
    assert db["reports"].get("r")["title"] == "T"  # options not repeated keep what was stored


def test_changed_removed_and_restored_footnotes(db: Database, tmp_path: Path) -> None:
    v1 = write(
        tmp_path / "v1.csv",
        "footnote,url,context\n1,https://a.kz/,One.\n2,https://b.kz/,Two.\n3,https://c.kz/,Three.\n",
    )
    v2 = write(
        tmp_path / "v2.csv",
        'footnote,url,context\n1,https://a.kz/,"One, reworded."\n2,https://b2.kz/,Two.\n',
    )
    import_csv(db, v1, report_id="r")
    result = import_csv(db, v2, report_id="r")
    assert [u["footnote"] for u in result["updated"]] == [1, 2]  # type: ignore[index]
    assert result["removed"] == [{"footnote": 3, "position": 1, "url": "https://c.kz/"}]
    removed = next(db["citations"].rows_where("footnote = 3"))
    assert removed["removed_at"] is not None  # kept, marked, not deleted
    change = next(
        db["citation_changes"].rows_where(
            "citation_id = ? and change = 'updated'",
            [next(db["citations"].rows_where("footnote = 2"))["id"]],
        )
    )
    assert change["old_url"] == "https://b.kz/"
    assert next(db["citations"].rows_where("footnote = 2"))["url"] == "https://b2.kz/"
    back = import_csv(db, v1, report_id="r")
    assert [r["footnote"] for r in back["restored"]] == [3]  # type: ignore[index]
    assert db["citations"].count == 3


def test_failed_import_writes_nothing(db: Database, tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", "footnote,url\n1,https://a.kz/\n")
    import_csv(db, path, report_id="r")
    before = counts(db)
    imports_before = db["imports"].count
    broken = ParsedReport(
        path=str(path),
        citations=[CitedURL(1, 1, "https://a.kz/new"), CitedURL(2, 1, "https://x.kz:notaport/")],
    )
    with pytest.raises(InvalidURL):
        import_report(db, broken, report_id="r")
    assert counts(db) == before
    assert db["imports"].count == imports_before
    assert next(db["citations"].rows_where("footnote = 1"))["url"] == "https://a.kz/"


def test_report_id_defaults_to_file_name(db: Database, tmp_path: Path) -> None:
    path = write(tmp_path / "ODF Report 2018.csv", "footnote,url\n1,https://a.kz/\n")
    assert import_csv(db, path)["report"] == "odf-report-2018"
