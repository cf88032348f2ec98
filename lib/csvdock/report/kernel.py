"""One Jupyter kernel for a run's report notebooks, started when the run starts.

A kernel takes about 0.5 s to start and 0.2 s more to import Polars and the report modules, and
each of the two notebooks once started its own. Now the run starts one kernel as it begins (it
boots and imports while the files load, in its own process), papermill runs both notebooks on it
through one client, and the run shuts it down at its end. The kernel's own output (its
warnings) goes to the run's ``kernel.log``, not the user's terminal.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

log = logging.getLogger("csvdock")

KERNEL_NAME = "python3"
# Run as the kernel starts, before it answers: what the report notebooks import first.
# (No collection while they load, their objects frozen after, as ``csvdock.edges.launch`` does.)
WARM_UP = (
    "import gc; gc.disable(); "
    "import polars; import csvdock.report.data, csvdock.report.html, csvdock.report.charts, "
    "csvdock.transform.typed; gc.freeze(); gc.enable()"
)
ENGINE = "csvdock-shared-kernel"
CONNECT_TIMEOUT = 60  # seconds a kernel may take to answer

_current: ReportKernel | None = None


class ReportKernel:
    """A started kernel (``manager`` is a ``jupyter_client.KernelManager``)."""

    def __init__(self, log_path: Path) -> None:
        from jupyter_client import KernelManager

        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._output: IO[bytes] = log_path.open("ab")
        self.manager = KernelManager(kernel_name=KERNEL_NAME)
        try:
            self.manager.start_kernel(
                extra_arguments=[f"--IPKernelApp.exec_lines={WARM_UP}"],
                stdout=self._output,
                stderr=self._output,
            )
        except BaseException:
            self._output.close()
            raise
        self._client: Any = None
        self._failure: BaseException | None = None
        # The client connects while the files load: a new client waits for the kernel's
        # start and then 0.2 s for its output channel to fall quiet (``wait_for_ready``).
        self._connecting = threading.Thread(
            target=self._connect, name="csvdock-report-client", daemon=True
        )
        self._connecting.start()

    def _connect(self) -> None:
        client = self.manager.client()
        client.start_channels()
        try:
            client.wait_for_ready(timeout=CONNECT_TIMEOUT)
        except BaseException as exc:
            client.stop_channels()
            self._failure = exc
            return
        client.allow_stdin = False
        self._client = client

    def client(self) -> Any:
        """Return this kernel's one client, connected and ready (each notebook used to connect
        its own, each waiting 0.2 s); raise what kept it from connecting."""
        self._connecting.join(CONNECT_TIMEOUT + 5)
        if self._client is None:
            raise self._failure or RuntimeError("the report kernel did not answer")
        return self._client

    def _kill(self) -> None:
        """Kill the kernel's process and reap it: jupyter_client polls a dying kernel every
        0.1 s, a tenth of a second at the end of every run."""
        process = getattr(self.manager.provisioner, "process", None)
        if process is not None:
            process.kill()
            process.wait(timeout=5)

    def alive(self) -> bool:
        """Return whether the kernel still runs."""
        try:
            return bool(self.manager.is_alive())
        except Exception:
            return False

    def shutdown(self) -> None:
        try:
            if self._connecting.is_alive():  # (a kernel killed now ends its wait)
                self._kill()
                self._connecting.join(5)
            if self._client is not None:
                self._client.stop_channels()
            if self.manager.has_kernel:
                self._kill()
                self.manager.shutdown_kernel(now=True)
        except Exception as exc:  # a kernel that is gone already needs nothing
            log.debug("the report kernel did not shut down cleanly: %s", exc)
        finally:
            self._output.close()


@contextlib.contextmanager
def report_kernel(log_path: Path) -> Iterator[ReportKernel]:
    """Start a kernel, make it the one reports use (``current_kernel``) until the block ends,
    then shut it down."""
    kernel = ReportKernel(log_path)
    try:
        with _serving(kernel):
            yield kernel
    finally:
        kernel.shutdown()


@contextlib.contextmanager
def _serving(kernel: ReportKernel) -> Iterator[None]:
    """Make ``kernel`` the one reports use (``current_kernel``) until the block ends."""
    global _current
    previous, _current = _current, kernel
    try:
        yield
    finally:
        _current = previous


_kept: ReportKernel | None = None  # the kernel a long-running process keeps for every run


@contextlib.contextmanager
def kernel_kept_warm(log_path: Path) -> Iterator[None]:
    """Keep one report kernel for every run this process makes until the block ends (``watch``:
    a run per arrival would otherwise start a kernel and import its libraries each time, about
    2 s of a tiny file's 3). While it is dead, or when it could not start, each run starts its
    own, as without one."""
    global _kept
    try:
        kernel = ReportKernel(log_path)
    except Exception as exc:
        log.warning("the report kernel could not start: %s", exc)
        yield
        return
    threading.Thread(target=_import_renderers, name="csvdock-report-imports", daemon=True).start()
    previous, _kept = _kept, kernel
    try:
        yield
    finally:
        _kept = previous
        kernel.shutdown()


@contextlib.contextmanager
def warm_kernel_for_run(log_path: Path) -> Iterator[None]:
    """Start the reports' kernel for a run about to begin (or use the one the process keeps,
    ``kernel_kept_warm``); a kernel that cannot start is logged and the reports start their own
    (they never fail a run)."""
    if _kept is not None and _kept.alive():
        with _serving(_kept):
            yield
        return
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(report_kernel(log_path))
        except Exception as exc:
            log.warning("the report kernel could not start early: %s", exc)
        else:
            # papermill and nbconvert take 0.4 s to import: a thread does it while files load.
            threading.Thread(
                target=_import_renderers, name="csvdock-report-imports", daemon=True
            ).start()
        yield


def _import_renderers() -> None:
    """Import papermill and nbconvert and load the HTML exporter's templates (exporting an empty
    notebook) and the runs index's (0.75 s in all)."""
    with contextlib.suppress(Exception):
        import nbformat
        import papermill  # noqa: F401

        from csvdock.report.index import index_template
        from csvdock.report.notebooks import html_exporter

        html_exporter().from_notebook_node(nbformat.v4.new_notebook())
        index_template()


def current_kernel() -> ReportKernel | None:
    """Return the kernel this process started for its current run, if any."""
    return _current


def execute_on(kernel: ReportKernel, source: Path, executed: Path, **parameters: Any) -> Any:
    """Execute notebook ``source`` with ``parameters`` on ``kernel`` through papermill, writing
    the executed notebook to ``executed`` (once, at the end) and returning it; the kernel stays
    up for the next notebook."""
    import papermill

    _register_engine()
    return papermill.execute_notebook(
        str(source),
        str(executed),
        parameters=parameters,
        engine_name=ENGINE,
        kernel_name=KERNEL_NAME,
        progress_bar=False,
        log_output=False,
        # Not saved as each cell starts and ends (each time validated, copied and written
        # whole: about 0.1 s of CPU a run): written once at the end, or where a cell failed.
        request_save_on_cell_execute=False,
        km=kernel.manager,
        shared_client=kernel.client(),
    )


def _register_engine() -> None:
    """Register papermill's nbclient engine, changed to run on a given kernel through its one
    client and leave both running (nbclient's cleanup would shut the kernel down)."""
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine, papermill_engines

    if ENGINE in papermill_engines._engines:
        return

    class SharedKernelEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(  # type: ignore[override]
            cls,
            nb_man: Any,
            kernel_name: str,
            log_output: bool = False,
            stdout_file: Any = None,
            stderr_file: Any = None,
            start_timeout: int = 60,
            execution_timeout: int | None = None,
            **kwargs: Any,
        ) -> Any:
            kwargs.pop("input_path", None)
            kwargs.pop("timeout", None)
            kwargs.pop("startup_timeout", None)
            shared_client = kwargs.pop("shared_client")
            client = PapermillNotebookClient(
                nb_man,
                timeout=execution_timeout,
                startup_timeout=start_timeout,
                kernel_name=kernel_name,
                log=logging.getLogger("papermill"),
                log_output=log_output,
                stdout_file=stdout_file,
                stderr_file=stderr_file,
                **kwargs,
            )
            client.kc = shared_client  # connected once: nbclient then starts no client
            return client.execute()

    papermill_engines.register(ENGINE, SharedKernelEngine)
