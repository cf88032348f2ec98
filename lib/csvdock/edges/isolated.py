"""One ingest in a process of its own: ``python -m csvdock.edges.isolated SPEC_JSON``.

The upload API runs each upload's ``csvdock.ingest`` here, so that one bad upload (a crash, a
memory peak) cannot take the server down. The spec holds ``paths``, ``table``, ``mode`` and
``run_id``; the settings are read here, at this process's edge. Stdout: the run summary as JSON.
Exit status as for ``csvdock ingest``: 0 every file loaded or skipped, 1 a file was not, 2 the
spec or the configuration is unusable (one line on stderr).
"""

from __future__ import annotations

import json
import sys

from csvdock.core.errors import CsvdockError
from csvdock.core.logs import configure_logging, set_run_id
from csvdock.core.settings import load_settings
from csvdock.edges.cli import EXIT_FILE_PROBLEM, EXIT_OK, EXIT_USAGE, isolated_tasks
from csvdock.pipeline.run import expand_paths, ingest


def main(argv: list[str] | None = None) -> int:
    """Run the ingest the spec in ``argv[0]`` describes; return the exit status."""
    args = sys.argv[1:] if argv is None else argv
    try:
        spec = json.loads(args[0])
        settings = load_settings()
        configure_logging(settings.log_level, settings.workspace / "logs" / "csvdock.log", True)
        set_run_id(spec["run_id"])
        files = expand_paths(spec["paths"])
        summary = ingest(
            files,
            spec.get("table"),
            mode=spec.get("mode"),
            settings=settings,
            run_id=spec["run_id"],
            isolate=isolated_tasks(files),
        )
    except CsvdockError as exc:
        print(f"csvdock: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (IndexError, KeyError, json.JSONDecodeError) as exc:
        print(f"csvdock: error: a bad ingest spec ({type(exc).__name__}: {exc})", file=sys.stderr)
        return EXIT_USAGE
    print(json.dumps(summary.as_dict(), indent=2))
    return EXIT_OK if summary.ok else EXIT_FILE_PROBLEM


if __name__ == "__main__":
    sys.exit(main())
