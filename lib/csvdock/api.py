"""The upload API (FastAPI): POST /upload_csv stores a CSV in the inbox under a name the server
chooses and ingests it (a ``csvdock ingest`` subprocess, so one bad upload cannot take the server
down); GET /runs/{run_id} polls a run; GET /health. Every route but /health needs the bearer token.
"""

from __future__ import annotations

import hmac
import json
import secrets
import subprocess
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from csvdock.config import MODES, Settings
from csvdock.naming import split_table_name
from csvdock.runs import new_run_id, valid_run_id
from csvdock.workspace import Workspace

CHUNK = 1024 * 1024
bearer = HTTPBearer(auto_error=False)


def create_app(settings: Settings) -> FastAPI:
    """Return the API for ``settings`` (which must hold an API token)."""
    if not settings.api_token:
        raise ValueError("no API token: set CSVDOCK_API_TOKEN or api_token in luigi.cfg")
    token = settings.api_token
    workspace = Workspace(settings.workspace)
    inbox = workspace.root / "inbox"
    app = FastAPI(
        title="csvdock",
        summary="Upload CSV files and load them into the warehouse.",
        description="Every route except `/health` needs `Authorization: Bearer <token>`.",
    )

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
        run_id = new_run_id()
        stored = await _store_upload(request, inbox, run_id, settings.max_upload_bytes)
        args = [sys.executable, "-m", "csvdock.cli", "ingest", str(stored), "--json"]
        args += ["--run-id", run_id, "--table", table or "upload"]
        if mode:
            args += ["--mode", mode]
        if not wait:
            threading.Thread(target=_run, args=(args,), daemon=True).start()
            return JSONResponse({"run_id": run_id, "status": "running"}, status_code=202)
        done = await _in_thread(args)
        if done is None:
            raise HTTPException(status.HTTP_500_INTERNAL_SERVER_ERROR, "the ingest did not finish")
        return done

    @app.get(
        "/runs/{run_id}",
        summary="A run's summary, or its state while it runs",
        dependencies=[Depends(authorised)],
    )
    def get_run(run_id: str) -> Any:
        if not valid_run_id(run_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such run")
        summary = workspace.run_dir(run_id) / "summary.json"
        if summary.exists():
            return json.loads(summary.read_text(encoding="utf-8"))
        if any(inbox.glob(f"{run_id}-*")):
            return JSONResponse({"run_id": run_id, "status": "running"}, status_code=202)
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such run")

    return app


def _check_options(table: str | None, mode: str | None) -> None:
    if mode is not None and mode not in MODES:
        raise HTTPException(422, f"mode must be one of {', '.join(MODES)}")
    if table is not None:
        try:
            split_table_name(table)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None


async def _store_upload(request: Request, inbox: Path, run_id: str, limit: int) -> Path:
    """Stream the multipart field ``file`` to ``inbox/<run_id>-<random>.csv``; the client's file
    name is never used. Over ``limit`` bytes: 413, and the partial file is removed."""
    from python_multipart import MultipartParser  # streaming: the body is never held whole

    content_type = request.headers.get("content-type", "")
    if "multipart/form-data" not in content_type or "boundary=" not in content_type:
        raise HTTPException(422, "send the CSV as multipart/form-data in a field named 'file'")
    boundary = content_type.split("boundary=", 1)[1].split(";")[0].strip().strip('"')
    inbox.mkdir(parents=True, exist_ok=True)
    final = inbox / f"{run_id}-{secrets.token_hex(4)}.csv"
    partial = final.with_suffix(".partial")
    state: dict[str, Any] = {"field": None, "size": 0, "seen": False, "headers": {}}
    handle = partial.open("wb")

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["header_name"] = data[start:end].decode("latin-1").lower()

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["headers"][state.get("header_name", "")] = data[start:end].decode("latin-1")

    def on_headers_finished() -> None:
        disposition = state["headers"].get("content-disposition", "")
        state["field"] = "file" if 'name="file"' in disposition else None
        state["seen"] = state["seen"] or state["field"] == "file"
        state["headers"] = {}

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if state["field"] == "file":
            state["size"] += end - start
            if state["size"] > limit:
                raise OverflowError
            handle.write(data[start:end])

    parser = MultipartParser(
        boundary,
        callbacks={
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
        },
    )
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except OverflowError:
        handle.close()
        partial.unlink(missing_ok=True)
        raise HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, "upload too large") from None
    except Exception as exc:
        handle.close()
        partial.unlink(missing_ok=True)
        raise HTTPException(422, f"malformed multipart body: {exc}") from None
    handle.close()
    if not state["seen"]:
        partial.unlink(missing_ok=True)
        raise HTTPException(422, "no multipart field named 'file'")
    partial.replace(final)
    return final


def _run(args: list[str]) -> dict[str, Any] | None:
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    try:
        return dict(json.loads(done.stdout))
    except json.JSONDecodeError:
        return None


async def _in_thread(args: list[str]) -> dict[str, Any] | None:
    import anyio.to_thread

    return await anyio.to_thread.run_sync(_run, args)
