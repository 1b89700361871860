"""The notebooks app's local services (fetcher, extraction, knowledge index, captions,
transcription) and its clean-up, without workers."""

from __future__ import annotations

import datetime as dt
import socket

import pytest
from django.utils import timezone

from notebooks import tasks
from notebooks.models import BatchItem, BatchJob, Notebook
from notebooks.services import extract
from notebooks.services.captioner import AltTextCaptioner
from notebooks.services.fetcher import FetchError, HttpFetcher, TransientFetchError
from notebooks.services.knowledge_index import CANCEL, DONE, FAIL, RUNNING, KnowledgeIndexError, LocalKnowledgeIndex, chunk_text
from notebooks.services.transcriber import MetadataTranscriber, TranscriptionError
from tests.support.domain import ARTICLE, make_pdf, make_wav


def test_fetcher_reads_a_page(site):
    fetched = HttpFetcher().fetch(site.url("/article.html"))
    assert (fetched.status, fetched.content_type, fetched.charset) == (200, "text/html", "utf-8")
    assert b"Queues without surprises" in fetched.body


def test_fetcher_errors_say_whether_to_retry(site, settings):
    with pytest.raises(FetchError, match="HTTP 404") as caught:
        HttpFetcher().fetch(site.url("/missing"))
    assert not isinstance(caught.value, TransientFetchError)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    settings.NOTEBOOKS_FETCH_ALLOWED_ADDRESSES = [*settings.NOTEBOOKS_FETCH_ALLOWED_ADDRESSES, f"127.0.0.1:{closed_port}"]
    with pytest.raises(TransientFetchError, match="could not reach"):
        HttpFetcher().fetch(f"http://127.0.0.1:{closed_port}/")
    settings.NOTEBOOKS_MAX_FETCH_BYTES = 100
    with pytest.raises(FetchError, match="larger than 100 bytes"):
        HttpFetcher().fetch(site.url("/article.html"))
    settings.NOTEBOOKS_FETCH_ALLOWED_ADDRESSES = []
    with pytest.raises(FetchError, match="non-public address"):
        HttpFetcher().fetch(site.url("/notes.txt"))


def test_html_extraction_keeps_text_and_images_and_drops_scripts():
    page = extract.html(ARTICLE.encode(), "utf-8", "https://example.org/posts/queues.html")
    assert page.title == "Queues without surprises"
    assert "A queue is a promise" in page.text and "not text" not in page.text and "color" not in page.text
    assert page.images == [{"src": "https://example.org/img/queue-diagram.png", "alt": "A diagram of a queue with two workers"}]


def test_document_extraction_by_type():
    pdf = extract.document(make_pdf(["Title line", "Body of the paper."]), "application/pdf", None, "p.pdf")
    assert pdf.title == "Title line" and "Body of the paper." in pdf.text and pdf.metadata == {"pages": 1}
    text = extract.document("# Notes\n\nÉtude des files.".encode(), "", None, "notes.md")
    assert text.title == "Notes" and "Étude" in text.text
    with pytest.raises(extract.ExtractionError, match="unsupported document type"):
        extract.document(b"\x89PNG", "image/png", None, "x.png")
    with pytest.raises(extract.ExtractionError, match="not a readable PDF"):
        extract.pdf(b"%PDF-1.4 garbage", "broken.pdf")


def test_chunks_follow_paragraphs():
    text = "\n\n".join(["alpha " * 10, "beta " * 10, "gamma " * 50])
    chunks = chunk_text(text, 120)
    assert all(len(chunk) <= 120 for chunk in chunks)
    assert chunks[0].startswith("alpha") and "beta" in chunks[0] and "gamma" not in chunks[0]
    assert "".join(chunks).count("gamma") == 50


def test_local_index_parses_after_n_polls(settings):
    settings.KNOWLEDGE_INDEX_POLLS_TO_DONE = 3
    index = LocalKnowledgeIndex()
    dataset = index.create_dataset("test")
    document = index.upload(dataset, "a.md", "First paragraph.\n\nSecond paragraph.")
    index.parse(dataset, [document])
    seen = [index.status(dataset, document).status for _ in range(4)]
    assert seen == [RUNNING, RUNNING, DONE, DONE]
    assert index.chunks(document) == ["First paragraph.\n\nSecond paragraph."]


def test_local_index_fails_empty_documents_and_can_cancel():
    index = LocalKnowledgeIndex()
    dataset = index.create_dataset("test")
    empty = index.upload(dataset, "empty.md", "", polls_to_done=1)
    index.parse(dataset, [empty])
    state = index.status(dataset, empty)
    assert state.status == FAIL and "no text" in state.message
    slow = index.upload(dataset, "slow.md", "text", polls_to_done=50)
    index.parse(dataset, [slow])
    assert index.cancel(dataset, slow) and index.status(dataset, slow).status == CANCEL
    assert not index.cancel(dataset, slow)
    index.delete(dataset, slow)
    with pytest.raises(KnowledgeIndexError):
        index.status(dataset, slow)
    with pytest.raises(KnowledgeIndexError, match="no dataset"):
        index.upload("nope", "a.md", "text")


def test_captions_and_transcripts():
    captioner = AltTextCaptioner()
    assert captioner.caption({"src": "https://x/img/flow-chart_v2.png", "alt": ""}, "Page") == "Figure: flow chart v2 (from “Page”)"
    assert captioner.caption({"src": "x.png", "alt": "Two workers"}, "") == "Figure: Two workers"
    transcriber = MetadataTranscriber()
    assert "0.50 seconds, 1 channel(s), 8000 Hz" in transcriber.transcribe(make_wav(0.5), "audio/wav", "clip.wav")
    assert "video/mp4, 3 bytes" in transcriber.transcribe(b"abc", "video/mp4", "film.mp4")
    with pytest.raises(TranscriptionError):
        transcriber.transcribe(b"RIFFjunk", "audio/wav", "bad.wav")


def test_cleanup_deletes_only_old_finished_batches(db, django_user_model):
    user = django_user_model.objects.create_user("u")
    notebook = Notebook.objects.create(user=user, name="n")
    old, recent, running = (BatchJob.objects.create(user=user, notebook=notebook, status=s) for s in ("completed", "failed", "processing"))
    BatchItem.objects.create(batch_job=old)
    long_ago = timezone.now() - dt.timedelta(days=8)
    BatchJob.objects.filter(pk__in=[old.pk, running.pk]).update(updated_at=long_ago)
    assert tasks.cleanup_old_batch_jobs() == {"deleted": 1}
    assert set(BatchJob.objects.values_list("pk", flat=True)) == {recent.pk, running.pk}


def test_small_tasks_run_inline(db):
    assert tasks.test_caption_generation_task(7) == {"kb_item_id": 7, "status": "ok"}
    health = tasks.health_check_task()
    assert health["status"] == "ok" and health["backend"] == "inline"


def test_giving_up_on_a_url_marks_its_item_failed(db, django_user_model):
    """The URL tasks' give-up hook (after the transient-error retries) gets the task's own arguments."""
    from notebooks.models import KnowledgeBaseItem

    user = django_user_model.objects.create_user("u")
    notebook = Notebook.objects.create(user=user, name="n")
    item = KnowledgeBaseItem.objects.create(notebook=notebook, title="t", upload_id="up-1", parsing_status="parsing")
    tasks._url_gave_up("https://example.org/down", notebook.pk, user.pk, upload_url_id="up-1")
    item.refresh_from_db()
    assert item.parsing_status == "failed" and item.error_message == "gave up fetching https://example.org/down after 3 retries"
