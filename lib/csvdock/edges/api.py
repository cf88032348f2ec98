"""The upload API (FastAPI): POST /upload_csv stores a CSV in the inbox under a name the server
chooses and ingests it (``csvdock.ingest`` in a child process, ``csvdock.edges.isolated``, so one
bad upload cannot take the server down); GET /runs/{run_id} polls a run; GET /health. Every route
but /health needs the bearer token.

Work is bounded: at most ``INGEST_WORKERS`` ingests run at once and at most ``QUEUE_LIMIT`` wait
(beyond that: 503 with Retry-After). Each run's state (queued, running, done, failed, with the
child's exit code and stderr) is kept in ``runs/<run_id>/api.json``, so a crashed child ends its
run as failed. An upload leaves the inbox once its file is loaded, skipped or quarantined (the
quarantine keeps its own copy); a failed one moves to ``inbox/failed/`` to be ingested again.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import secrets
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from csvdock.core.runs import new_run_id, valid_run_id
from csvdock.core.settings import MODES, Settings
from csvdock.core.workspace import Workspace
from csvdock.pipeline.run import UsageError, normalised_table

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

log = logging.getLogger("csvdock")
CHUNK = 1024 * 1024
INGEST_WORKERS = 2  # ingests run at once (each a process)
QUEUE_LIMIT = 16  # uploads waiting for an ingest; more get 503
BODY_OVERHEAD = 64 * 1024  # multipart boundaries and part headers beside the file's bytes
STDERR_KEPT = 4000  # characters of a child's stderr kept in the run record
bearer = HTTPBearer(auto_error=False)


def create_app(settings: Settings) -> FastAPI:
    """Return the API for ``settings`` (which must hold an API token)."""
    if not settings.api_token:
        raise ValueError("no API token: set CSVDOCK_API_TOKEN or api_token in luigi.cfg")
    workspace = Workspace(settings.workspace)
    inbox = workspace.root / "inbox"
    pool = ThreadPoolExecutor(max_workers=INGEST_WORKERS, thread_name_prefix="csvdock-ingest")
    slots = threading.BoundedSemaphore(INGEST_WORKERS + QUEUE_LIMIT)
    app = FastAPI(
        title="csvdock",
        summary="Upload CSV files and load them into the warehouse.",
        description="Every route except `/health` needs `Authorization: Bearer <token>`.",
    )

    authorised = _authorisation(settings.api_token)

    for stranded, record, spec in _unfinished_uploads(inbox, workspace):
        if slots.acquire(blocking=False):
            log.warning("%s: an upload the last server did not finish: queued again", stranded.name)
            _queue(pool, stranded, inbox, record, spec, slots)

    @app.get("/health", summary="Liveness check")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post(
        "/upload_csv",
        summary="Upload one CSV file (multipart field `file`) and ingest it",
        dependencies=[Depends(authorised)],
        responses={
            401: {"description": "no or wrong token"},
            413: {"description": "the body is over the size limit"},
            422: {"description": "bad table, mode or form"},
        },
    )
    async def upload_csv(
        request: Request,
        table: Annotated[str | None, Query(description="TABLE or SCHEMA.TABLE")] = None,
        mode: Annotated[str | None, Query(description="etl or elt")] = None,
        wait: Annotated[bool, Query(description="false: return the run id at once")] = True,
    ) -> Any:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > settings.max_upload_bytes + CHUNK:
            raise HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, "upload too large")
        _check_options(table, mode)
        if not slots.acquire(blocking=False):
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                "too many uploads waiting; try again later",
                headers={"Retry-After": "30"},
            )
        run_id = new_run_id()
        record = RunRecord(workspace.run_dir(run_id) / API_FILE, run_id)
        spec = {"table": table or "upload", "mode": mode, "run_id": run_id}
        stored = await _received(request, inbox, record, spec, settings, slots)
        future = _queue(pool, stored, inbox, record, spec, slots)
        if not wait:
            return JSONResponse({"run_id": run_id, "status": "queued"}, status_code=202)
        done = await asyncio.wrap_future(future)
        if done is None:
            raise HTTPException(
                status.HTTP_500_INTERNAL_SERVER_ERROR,
                f"the ingest did not finish; see GET /runs/{run_id}",
            )
        return done

    @app.get(
        "/runs/{run_id}",
        summary="A run's summary, or its state while it runs",
        dependencies=[Depends(authorised)],
    )
    def get_run(run_id: str) -> Any:
        return _run_state(workspace, run_id)

    return app


async def _received(
    request: Request,
    inbox: Path,
    record: RunRecord,
    spec: dict[str, Any],
    settings: Settings,
    slots: threading.BoundedSemaphore,
) -> Path:
    """Store an upload's body in the inbox for the run ``record``; an upload refused frees its
    slot and records why."""
    try:
        record.write("receiving", spec=spec)
        return await _store_upload(
            request, inbox, record.run_id, settings.max_upload_bytes, settings.upload_read_timeout
        )
    except BaseException as exc:
        slots.release()
        detail = exc.detail if isinstance(exc, HTTPException) else type(exc).__name__
        record.write("rejected", spec=None, reason=str(detail))
        raise


def _authorisation(token: str) -> Callable[..., None]:
    """Return the dependency that refuses a request without the bearer ``token`` (401)."""

    def authorised(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> None:
        given = credentials.credentials if credentials else ""
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "missing or wrong bearer token",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return authorised


def _run_state(workspace: Workspace, run_id: str) -> Any:
    """Return a run's summary (200), or its state: 202 while it runs, 400 when the upload was
    refused, 500 when it ended without a summary; 404 for an unknown run."""
    if not valid_run_id(run_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such run")
    summary = workspace.run_dir(run_id) / "summary.json"
    if summary.exists():
        return json.loads(summary.read_text(encoding="utf-8"))
    state = RunRecord(workspace.run_dir(run_id) / API_FILE, run_id).read()
    if state is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such run")
    if state["status"] in ("receiving", "queued", "running"):
        return JSONResponse(state, status_code=202)
    if state["status"] == "rejected":  # the upload itself was refused (413, 408, 422)
        return JSONResponse(state, status_code=400)
    return JSONResponse(state, status_code=500)  # ended without a summary: the child failed


def _check_options(table: str | None, mode: str | None) -> None:
    if mode is not None and mode not in MODES:
        raise HTTPException(422, f"mode must be one of {', '.join(MODES)}")
    if table is not None:
        try:
            normalised_table(table)
        except UsageError as exc:
            raise HTTPException(422, str(exc)) from None


async def _store_upload(
    request: Request, inbox: Path, run_id: str, limit: int, read_timeout: float
) -> Path:
    """Stream the multipart field ``file`` to ``inbox/<run_id>-<random>.csv``; the client's file
    name is never used. A body (every part, not only the file) over ``limit`` bytes and a
    little: 413; a body that stalls for ``read_timeout`` seconds: 408; either way the partial
    file is removed and the worker slot freed."""
    from python_multipart import MultipartParser  # streaming: the body is never held whole

    content_type = request.headers.get("content-type", "")
    if "multipart/form-data" not in content_type or "boundary=" not in content_type:
        raise HTTPException(422, "send the CSV as multipart/form-data in a field named 'file'")
    boundary = content_type.split("boundary=", 1)[1].split(";")[0].strip().strip('"')
    inbox.mkdir(parents=True, exist_ok=True)
    final = inbox / f"{run_id}-{secrets.token_hex(4)}.csv"
    partial = final.with_suffix(".partial")
    with partial.open("wb") as handle:
        part = _FilePart(handle, limit)
        parser = MultipartParser(boundary, callbacks=part.callbacks())
        try:
            received = 0
            chunks = request.stream().__aiter__()
            while True:
                try:
                    chunk = await asyncio.wait_for(chunks.__anext__(), read_timeout)
                except StopAsyncIteration:
                    break
                received += len(chunk)
                if received > limit + BODY_OVERHEAD:
                    raise OverflowError
                parser.write(chunk)
            parser.finalize()
        except Exception as exc:
            handle.close()
            partial.unlink(missing_ok=True)
            raise _upload_error(exc, read_timeout) from None
    if not part.seen:
        partial.unlink(missing_ok=True)
        raise HTTPException(422, "no file part named 'file' (a part with a file name)")
    partial.replace(final)
    return final


def _upload_error(exc: Exception, read_timeout: float) -> HTTPException:
    """Return the HTTP error for an upload that could not be stored."""
    if isinstance(exc, TimeoutError):
        return HTTPException(
            status.HTTP_408_REQUEST_TIMEOUT, f"the body stalled for {read_timeout:g} s"
        )
    if isinstance(exc, OverflowError):
        return HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, "upload too large")
    if isinstance(exc, OSError):  # the inbox cannot be written (disk full): the server's trouble
        return HTTPException(
            status.HTTP_507_INSUFFICIENT_STORAGE, f"the upload cannot be stored: {exc.strerror}"
        )
    return HTTPException(422, f"malformed multipart body: {exc}")  # the client's body


class _FilePart:
    """The multipart parser's callbacks: the bytes of the part named ``file`` (a file part, at
    most one) go to ``handle``, at most ``limit`` of them (``OverflowError`` past it)."""

    def __init__(self, handle: IO[bytes], limit: int) -> None:
        self.handle, self.limit = handle, limit
        self.size, self.seen, self.in_file = 0, False, False
        # A header may arrive in pieces (split across two reads): each piece is appended.
        self.name, self.value, self.headers = "", "", dict[str, str]()

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
        }

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.name += data[start:end].decode("latin-1")

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.value += data[start:end].decode("latin-1")

    def on_header_end(self) -> None:
        self.headers[self.name.lower()] = self.value
        self.name, self.value = "", ""

    def on_headers_finished(self) -> None:
        from python_multipart.multipart import parse_options_header

        kind, params = parse_options_header(self.headers.get("content-disposition", ""))
        # The file is the part named exactly "file" that carries a file name (a file part).
        is_file = kind == b"form-data" and params.get(b"name") == b"file" and b"filename" in params
        if is_file and self.seen:
            raise ValueError("more than one part named 'file'")
        self.in_file, self.seen, self.headers = is_file, self.seen or is_file, {}

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.in_file:
            self.size += end - start
            if self.size > self.limit:
                raise OverflowError
            self.handle.write(data[start:end])


API_FILE = "api.json"


@dataclass
class RunRecord:
    """An upload's run as the API knows it: queued, running, done or failed (with why)."""

    path: Path
    run_id: str

    def write(self, state: str, **details: Any) -> None:
        """Record ``state``; the upload's ``spec`` (table, mode, run id) is kept across states."""
        if "spec" not in details:
            previous = self.read()
            if previous and "spec" in previous:
                details["spec"] = previous["spec"]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".partial")
        partial.write_text(json.dumps({"run_id": self.run_id, "status": state, **details}))
        partial.replace(self.path)

    def read(self) -> dict[str, Any] | None:
        try:
            return dict(json.loads(self.path.read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError):
            return None


def _queue(
    pool: ThreadPoolExecutor,
    stored: Path,
    inbox: Path,
    record: RunRecord,
    spec: dict[str, Any],
    slots: threading.BoundedSemaphore,
) -> Future[dict[str, Any] | None]:
    """Queue one stored upload's ingest (its slot already taken)."""
    # csvdock.ingest in a process of its own; the values travel as JSON, never as options.
    args = [
        sys.executable,
        "-m",
        "csvdock.edges.isolated",
        json.dumps({**spec, "paths": [str(stored)]}),
    ]
    record.write("queued", spec=spec)
    return pool.submit(_ingest_upload, args, stored, inbox, record, slots)


def _unfinished_uploads(
    inbox: Path, workspace: Workspace
) -> list[tuple[Path, RunRecord, dict[str, Any]]]:
    """Return the uploads a server killed before their end left behind (stored, recorded as
    receiving, queued or running, no summary), to be queued again: the ledger makes a second
    ingest of a file that did load a ``skipped``. Half-received bodies are removed (their
    client got no answer and sends again)."""
    if not inbox.is_dir():
        return []
    for partial in inbox.glob("*.partial"):
        partial.unlink(missing_ok=True)
    found = []
    for stored in sorted(inbox.glob("*.csv")):
        run_id = stored.name.rsplit("-", 1)[0]
        if not valid_run_id(run_id) or (workspace.run_dir(run_id) / "summary.json").exists():
            continue
        record = RunRecord(workspace.run_dir(run_id) / API_FILE, run_id)
        state = record.read()
        if state and state["status"] in ("receiving", "queued", "running") and "spec" in state:
            found.append((stored, record, dict(state["spec"])))
    return found


def _ingest_upload(
    args: list[str],
    stored: Path,
    inbox: Path,
    record: RunRecord,
    slots: threading.BoundedSemaphore,
) -> dict[str, Any] | None:
    """Run one upload's ingest (a child process) and record how it ended; return its summary,
    or None when the child ended without one."""
    try:
        record.write("running")
        done = subprocess.run(args, capture_output=True, text=True, check=False)
        try:
            summary: dict[str, Any] | None = dict(json.loads(done.stdout))
        except json.JSONDecodeError:
            summary = None
        stderr = done.stderr[-STDERR_KEPT:]
        # The upload is where it belongs before the run is seen to end (a client that sees
        # "failed" finds it in inbox/failed/).
        if summary is None:
            _keep_failed(stored, inbox)
            record.write("failed", exit_code=done.returncode, stderr=stderr)
            return None
        statuses = {f.get("status") for f in summary.get("files", [])}
        if "failed" in statuses:
            _keep_failed(stored, inbox)
        else:
            stored.unlink(missing_ok=True)  # in the warehouse, or the quarantine's copy
        record.write("done", exit_code=done.returncode, stderr=stderr)
        return summary
    except Exception as exc:  # the record must end, whatever happened
        record.write("failed", exit_code=None, stderr=f"{type(exc).__name__}: {exc}")
        return None
    finally:
        slots.release()


def _keep_failed(stored: Path, inbox: Path) -> None:
    """Move a failed upload to ``inbox/failed/`` (never deleted: it can be ingested again)."""
    failed = inbox / "failed"
    failed.mkdir(parents=True, exist_ok=True)
    if stored.exists():
        stored.replace(failed / stored.name)
