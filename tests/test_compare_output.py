"""``manage.py taskbridge compare``: the outputs (text, JSON, Markdown, HTML), stdin, exit codes."""

from __future__ import annotations

import gzip
import io
import json
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from taskbridge.compare import REPORT_SCHEMA, REPORT_VERSION
from tests.compare_fixtures import GENERATE, MALFORMED, NOTEBOOKS, NOW, PODCAST, REPORTS, known_log, split_log, stamp

NOW_ISO = stamp(NOW)


@pytest.fixture
def log_file(tmp_path: Path) -> Path:
    path = tmp_path / "events.log"
    path.write_text(known_log().text())
    return path


def compare(*args: str) -> str:
    out = io.StringIO()
    call_command("taskbridge", "compare", *args, stdout=out)
    return out.getvalue()


def test_json_output_has_the_documented_keys_and_figures(log_file: Path):
    report = json.loads(compare(str(log_file), "--json", "--now", NOW_ISO, "--min-samples", "3"))
    assert list(report) == ["schema", "version", "event_schema_version", "verdict", "input", "options", "jobs", "queues", "stranded", "pending", "duplicates", "route_changes"]
    assert (report["schema"], report["version"], report["event_schema_version"]) == (REPORT_SCHEMA, REPORT_VERSION, 2)
    assert report["verdict"] == "hold"
    assert report["input"]["malformed"]["total"] == sum(MALFORMED.values())
    assert report["input"]["malformed"]["by_reason"] == dict(sorted(MALFORMED.items()))
    assert report["input"]["unknown_events"] == {"total": 1, "by_name": {"task.teleported": 1}}
    assert report["input"]["newer_version"] == {"total": 1, "by_version": {"3": 1}}
    assert report["input"]["blank_lines"] == 1
    assert report["jobs"] == {"total": 24, "without_enqueue": 1}
    assert report["options"]["now"] == NOW_ISO
    assert report["options"]["thresholds"] == {"max_success_drop_pp": 1.0, "max_p95_ratio": 1.5, "max_wait_p95_ratio": None, "min_p95_gap_ms": 50.0, "min_samples": 3, "confidence": None}

    queues = {queue["queue"]: queue for queue in report["queues"]}
    assert list(queues) == [NOTEBOOKS, PODCAST, REPORTS]
    assert {name: queue["verdict"]["status"] for name, queue in queues.items()} == {NOTEBOOKS: "insufficient-data", PODCAST: "hold", REPORTS: "go"}
    podcast = queues[PODCAST]
    assert [check["status"] for check in podcast["verdict"]["checks"]] == ["fail", "fail", "fail", "fail", "off"]
    assert podcast["verdict"]["reasons"] == [
        "2 stranded jobs (1 on celery, 1 on rq): enqueued, due over 1h00m ago, no terminal event",
        "1 job id succeeded more than once",
        "success rate rq 66.67% vs celery 75.00%: 8.33 pp lower, over the 1.00 pp allowed",
        "p95 duration rq 5.00 s vs celery 3.00 s: 1.67x, over the 1.50x allowed",
    ]
    rq = next(row for row in podcast["backends"] if row["backend"] == "rq")
    assert rq == {
        "queue": PODCAST, "backend": "rq", "period": "all",
        "enqueued": 7, "moved_in": 0, "moved_out": 0, "started": 5, "succeeded": 4, "failed": 2, "retried": 0, "cancelled": 0, "skipped": 2,
        "success_rate": 4 / 6,
        "duration_ms": {"count": 4, "p50": 500.0, "p95": 5000.0, "p99": 5000.0},
        "wait_ms": {"count": 5, "p50": 100.0, "p95": 400.0},
        "errors": [{"type": "KeyError", "count": 2}],
        "retry_errors": [],
        "skip_reasons": [{"reason": "duplicate job id", "count": 1}, {"reason": "periodic tick owned by celery", "count": 1}],
        "cancel_phases": [],
    }
    assert podcast["tasks"][0]["task"] == GENERATE
    assert (podcast["stranded"], podcast["pending"], podcast["duplicates"]) == (2, 2, 1)
    assert report["stranded"] == [
        {"job_id": "r5", "queue": PODCAST, "task": GENERATE, "backend": "rq", "enqueued_at": stamp(8), "due_at": stamp(8), "age_seconds": 3692.0, "last_seen": "queued"},
        {"job_id": "c7", "queue": PODCAST, "task": GENERATE, "backend": "celery", "enqueued_at": stamp(50), "due_at": stamp(50), "age_seconds": 3650.0, "last_seen": "started"},
    ]
    assert report["duplicates"] == [{"job_id": "r6", "queue": PODCAST, "task": GENERATE, "backends": ["rq"], "successes": 2}]
    assert report["pending"] == {"total": 2, "by_queue": [{"queue": PODCAST, "backend": "celery", "count": 1}, {"queue": PODCAST, "backend": "rq", "count": 1}]}
    histogram = podcast["latency_histogram"]
    assert sum(histogram["counts"]["celery"]) == 3 and sum(histogram["counts"]["rq"]) == 4
    assert len(histogram["edges_ms"]) == len(histogram["counts"]["rq"]) + 1
    timeline = podcast["outcomes_over_time"]
    assert sum(timeline["series"]["rq"]["succeeded"]) == 4 and sum(timeline["series"]["celery"]["failed"]) == 1


def test_fail_on_hold_sets_the_exit_status(log_file: Path):
    with pytest.raises(CommandError) as raised:
        compare(str(log_file), "--json", "--now", NOW_ISO, "--fail-on-hold")
    assert raised.value.returncode == 3
    compare(str(log_file), "--json", "--now", NOW_ISO)  # no flag: the verdict is reported, the command succeeds
    assert json.loads(compare(str(log_file), "--json", "--queue", REPORTS, "--min-samples", "3", "--fail-on-hold"))["verdict"] == "go"


def test_threshold_options_reach_the_verdict(log_file: Path):
    args = [str(log_file), "--json", "--queue", PODCAST, "--horizon", "2h", "--min-samples", "3"]
    strict = json.loads(compare(*args))
    assert strict["queues"][0]["verdict"]["status"] == "hold"
    assert strict["stranded"] == []
    relaxed = json.loads(compare(*args, "--max-success-drop", "10", "--max-p95-ratio", "2", "--now", stamp(300)))
    assert relaxed["queues"][0]["verdict"]["status"] == "hold"  # the duplicate still holds it
    assert [check["status"] for check in relaxed["queues"][0]["verdict"]["checks"]] == ["pass", "fail", "pass", "pass", "off"]


def test_text_output(log_file: Path):
    text = compare(str(log_file), "--now", NOW_ISO, "--min-samples", "3")
    assert text.startswith("taskbridge compare: HOLD (3 queues: 1 go, 1 hold, 1 insufficient-data)")
    for title in ("Verdict per queue", "Per queue and backend", "Per queue, task and backend", "Top error types", "Stranded jobs", "Duplicates", "Pending", "Input"):
        assert title in text
    assert "r5" in text and "c7" in text and "malformed lines               6 (invalid JSON: 2," in text
    verdict_lines = [line for line in text.splitlines() if line.startswith(("podcast ", "reports ", "notebooks "))][:3]
    assert [line.split()[1] for line in verdict_lines] == ["INSUFFICIENT-DATA", "HOLD", "GO"]


def test_markdown_output(log_file: Path):
    markdown = compare(str(log_file), "--markdown", "--now", NOW_ISO)
    assert markdown.startswith("# taskbridge compare: HOLD")
    assert "## Verdict per queue" in markdown
    assert "| queue | verdict | compared | stranded | duplicates | pending | reason |" in markdown
    assert "|---|---|---|---:|---:|---:|---|" in markdown
    assert "| r5 | podcast |" in markdown


class PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: list[str] = []
        self.charts: list[tuple[str, str]] = []
        self.external: list[str] = []
        self.scripts = 0
        self.cells_by_table: dict[str, list[str]] = {}
        self._table: str | None = None
        self._in_cell = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "table":
            self._table = attributes.get("data-table")
            self.tables.append(self._table)
            self.cells_by_table.setdefault(self._table, [])
        if tag == "td":
            self._in_cell = True
        if tag == "svg":
            self.charts.append((attributes.get("class"), attributes.get("data-queue")))
        if tag == "script":
            self.scripts += 1
        for name in ("src", "href"):
            if name in attributes:
                self.external.append(attributes[name])
        if tag == "link":
            self.external.append(str(attributes))

    def handle_endtag(self, tag):
        if tag == "table":
            self._table = None
        if tag == "td":
            self._in_cell = False

    def handle_data(self, data):
        if self._in_cell and self._table:
            self.cells_by_table[self._table].append(data)


def test_html_page_is_self_contained_with_tables_and_a_chart_per_queue(log_file: Path, tmp_path: Path):
    page_path = tmp_path / "report.html"
    compare(str(log_file), "--now", NOW_ISO, "--html", str(page_path))
    page = PageParser()
    page.feed(page_path.read_text())
    queues = [NOTEBOOKS, PODCAST, REPORTS]
    assert page.scripts == 0 and page.external == []
    assert page.tables.count("backends") == 3 and page.tables.count("tasks") == 3
    for key in ("verdicts", "stranded", "duplicates", "pending", "input"):
        assert key in page.tables
    assert [queue for kind, queue in page.charts if kind == "chart latency"] == queues
    assert [queue for kind, queue in page.charts if kind == "chart outcomes"] == queues
    assert page.cells_by_table["verdicts"][:2] == [NOTEBOOKS, "INSUFFICIENT-DATA"]
    assert "r5" in page.cells_by_table["stranded"] and "c7" in page.cells_by_table["stranded"]
    assert "r6" in page.cells_by_table["duplicates"]


def test_html_with_a_split_marks_it(tmp_path: Path):
    log = tmp_path / "split.log"
    log.write_text(split_log().text())
    page_path = tmp_path / "split.html"
    compare(str(log), "--split-at", "route-change", "--html", str(page_path), "--json")
    html = page_path.read_text()
    assert 'class="mark"' in html and "route celery → rq" in html


def test_stdin_plain_and_gzip(monkeypatch: pytest.MonkeyPatch):
    data = known_log().text().encode()
    for payload in (data, gzip.compress(data)):
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(payload)))
        report = json.loads(compare("--json", "--now", NOW_ISO))
        assert report["input"]["sources"] == ["<stdin>"]
        assert report["input"]["lines"] == len(known_log().lines)
        assert [job["job_id"] for job in report["stranded"]] == ["r5", "c7"]


def test_stdin_first_then_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    lines = known_log().shuffled()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(("\n".join(lines[:30]) + "\n").encode())))
    rest = tmp_path / "rest.log"
    rest.write_text("\n".join(lines[30:]) + "\n")
    report = json.loads(compare("-", str(rest), "--json", "--now", NOW_ISO))
    assert report["input"]["sources"] == ["<stdin>", str(rest)]
    assert report["input"]["lines"] == len(known_log().lines)


def test_several_files(tmp_path: Path):
    lines = known_log().shuffled()
    first, second = tmp_path / "a.log", tmp_path / "b.log.gz"
    first.write_text("\n".join(lines[:30]) + "\n")
    second.write_bytes(gzip.compress(("\n".join(lines[30:]) + "\n").encode()))
    report = json.loads(compare(str(first), str(second), "--json", "--now", NOW_ISO))
    assert report["input"]["sources"] == [str(first), str(second)]
    assert [job["job_id"] for job in report["stranded"]] == ["r5", "c7"]


def test_filters_from_the_command_line(log_file: Path):
    report = json.loads(compare(str(log_file), "--json", "--task", "notebooks.*", "--since", stamp(0), "--until", stamp(100)))
    assert [queue["queue"] for queue in report["queues"]] == [NOTEBOOKS]
    assert report["options"]["tasks"] == ["notebooks.*"]
    assert report["options"]["since"] == stamp(0) and report["options"]["until"] == stamp(100)


def test_errors_are_command_errors(tmp_path: Path):
    with pytest.raises(CommandError, match="no such file"):
        compare(str(tmp_path / "missing.log"))
    with pytest.raises(CommandError, match="not a file"):
        compare(str(tmp_path))
    with pytest.raises(CommandError, match="not a duration"):
        compare(str(tmp_path), "--horizon", "later")
    with pytest.raises(CommandError, match="since must be before until"):
        compare("--since", stamp(10), "--until", stamp(0))
    with pytest.raises(CommandError, match="no directory"):
        compare("--html", str(tmp_path / "nope" / "x.html"))


def test_module_entry_point(log_file: Path, capsys: pytest.CaptureFixture[str]):
    from taskbridge.compare.__main__ import main

    assert main([str(log_file), "--json", "--now", NOW_ISO, "--fail-on-hold"]) == 3
    assert json.loads(capsys.readouterr().out)["verdict"] == "hold"
    assert main([str(log_file.parent / "missing.log")]) == 1
