"""The notebooks app's settings, read in one place, with defaults that work out of the box.

The defaults suit the local stand-in services (a poll every second, parsing
done after two polls). A deployment on the real knowledge index sets e.g.
``KNOWLEDGE_INDEX_POLL_COUNTDOWN = 60`` in its settings.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # Largest file the upload endpoint accepts (bytes); larger gets 413.
    "NOTEBOOKS_MAX_UPLOAD_BYTES": 20 * 1024 * 1024,
    # Largest body the fetcher downloads for a URL source (bytes).
    "NOTEBOOKS_MAX_FETCH_BYTES": 20 * 1024 * 1024,
    # Seconds the whole fetch may take (connect, redirects, body).
    "NOTEBOOKS_FETCH_TIMEOUT": 15,
    # Countdown before the first retry of a fetch that hit a transient error (doubles each time).
    "NOTEBOOKS_FETCH_RETRY_COUNTDOWN": 10,
    # Refuse to connect to loopback / private / link-local (cloud metadata) / reserved
    # addresses, on the first request and on every redirect (SSRF guard; docs/security.md).
    "NOTEBOOKS_FETCH_BLOCK_PRIVATE_ADDRESSES": True,
    # Exceptions to that guard: "10.1.2.3", "10.0.0.0/8", "127.0.0.1:8080" or "[::1]:8080".
    "NOTEBOOKS_FETCH_ALLOWED_ADDRESSES": (),
    # Finished batch jobs older than this are deleted by cleanup_old_batch_jobs.
    "NOTEBOOKS_BATCH_RETENTION_DAYS": 7,
    # Seconds between two polls of the knowledge index (check_ragflow_status_task).
    "KNOWLEDGE_INDEX_POLL_COUNTDOWN": 1,
    # The local knowledge index reports DONE after this many status polls.
    "KNOWLEDGE_INDEX_POLLS_TO_DONE": 2,
    # Characters per chunk the local knowledge index stores.
    "KNOWLEDGE_INDEX_CHUNK_CHARS": 800,
    # Swappable outside services: dotted paths of the classes to use.
    "NOTEBOOKS_FETCHER": "notebooks.services.fetcher.HttpFetcher",
    "NOTEBOOKS_KNOWLEDGE_INDEX": "notebooks.services.knowledge_index.LocalKnowledgeIndex",
    "NOTEBOOKS_CAPTIONER": "notebooks.services.captioner.AltTextCaptioner",
    "NOTEBOOKS_TRANSCRIBER": "notebooks.services.transcriber.MetadataTranscriber",
}


def get(name: str) -> Any:
    return getattr(settings, name, DEFAULTS[name])
