"""Where replay's chunks run: here, over joblib workers, or on a Dask cluster (DESIGN section 7).

A chunk is a slice of consecutive rows of the held-out Requests frame (one row
per request, so a request never spans two chunks). Every runner calls the same
function on the same chunks with the same shared objects (the fitted engines)
and yields ``(chunk number, result)`` as chunks finish, in any order; the
caller writes each result and records the chunk as done, so results do not
depend on the runner. The shared objects travel to each worker once, not once
per chunk:

* :class:`JoblibRunner`: written once with ``joblib.dump`` to a private
  temporary folder and read back (arrays memory-mapped) once per worker
  process;
* :class:`DaskRunner`: ``Client.scatter(..., broadcast=True)``; each chunk is
  a partition of a Dask DataFrame of the requests, and its task takes the
  scattered future. A few partitions are in flight at a time, so the client
  never ships the whole frame at once. Workers that die are replaced and their
  chunks retried by Dask; when every worker holding the engines died, they are
  shipped again. A run where no chunk finishes and no worker runs anything for
  ``stall_timeout`` seconds ends in :class:`~suggest.errors.ClusterError`.

:func:`dask_client` opens a client on a scheduler address, or on a local
cluster it starts and closes, with a clear error when the address cannot be
reached.

>>> runner = LocalRunner()
>>> frame = pd.DataFrame({"x": range(5)})
>>> sorted(runner.run(lambda shared, part: shared + len(part), 10, frame, 2, [0, 1, 2]))
[(0, 12), (1, 12), (2, 11)]
"""

from __future__ import annotations

import contextlib
import os
import gc
import logging
import itertools
import queue
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd

from suggest.errors import ClusterError, SuggestError

#: The one set of shared objects a joblib worker process holds: (path, objects).
_WORKER_SHARED: dict = {}

def _slice(frame: pd.DataFrame, size: int, c: int) -> pd.DataFrame:
    return frame.iloc[c * size:(c + 1) * size].reset_index(drop=True)


class LocalRunner:
    """Chunks one after the other in this process."""

    workers = 1

    def run(self, fn: Callable, shared, frame: pd.DataFrame, size: int, todo: list[int],
            extra: Callable[[int], tuple] = lambda c: ()) -> Iterator[tuple[int, object]]:
        """Yield ``(c, fn(shared, chunk_c, *extra(c)))`` for every chunk number in ``todo``."""
        for c in todo:
            yield c, fn(shared, _slice(frame, size, c), *extra(c))


class JoblibRunner(LocalRunner):
    """Chunks spread over ``n_jobs`` worker processes with joblib (loky)."""

    def __init__(self, n_jobs: int):
        self.workers = n_jobs

    def run(self, fn, shared, frame, size, todo, extra=lambda c: ()):
        from joblib import Parallel, delayed, dump

        with tempfile.TemporaryDirectory(prefix="suggest-shared-") as folder:
            path = str(Path(folder) / "shared.joblib")
            dump(shared, path)
            tasks = (delayed(_with_shared)(path, fn, c, _slice(frame, size, c), *extra(c))
                     for c in todo)
            yield from Parallel(n_jobs=self.workers, return_as="generator_unordered")(tasks)


def _with_shared(path: str, fn: Callable, c: int, *args) -> tuple[int, object]:
    """In a joblib worker: load the shared objects on the first chunk, reuse them after."""
    if _WORKER_SHARED.get("path") != path:
        from joblib import load

        _WORKER_SHARED.clear()  # a reused worker drops the previous run's engines first
        _WORKER_SHARED.update(path=path, objects=load(path, mmap_mode="r"))
    return c, fn(_WORKER_SHARED["objects"], *args)


class DaskRunner(LocalRunner):
    """Chunks as partitions of a Dask DataFrame on the cluster of ``client``.

    Parameters
    ----------
    client : distributed.Client
    in_flight : int, optional
        Chunks submitted at a time (default: two per worker thread).
    stall_timeout : float
        Seconds with no chunk finished and no worker running anything after which
        the run stops with :class:`~suggest.errors.ClusterError` instead of waiting
        forever (a slow chunk that a worker is running is waited for).
    """

    #: How many times the engines are shipped again after every worker holding them died
    #: (when that keeps happening, the engines are likely what kills the workers).
    reships = 1

    def __init__(self, client, in_flight: int | None = None, stall_timeout: float = 300):
        self.client = client
        self.workers = max(1, sum(client.nthreads().values()))
        self.in_flight = in_flight or 2 * self.workers
        self.stall_timeout = stall_timeout

    def run(self, fn, shared, frame, size, todo, extra=lambda c: ()):
        from concurrent.futures import CancelledError

        import dask
        import dask.dataframe as dd

        if not todo:
            return
        # the partitions must reach the engines exactly as local chunks do: no conversion
        # of text columns to Arrow strings on the way
        with dask.config.set({"dataframe.convert-string": False}):
            table = dd.from_pandas(frame.reset_index(drop=True), chunksize=size, sort=False)
        if tuple(table.divisions[:-1]) != tuple(range(0, len(frame), size)):
            # each partition must be exactly the chunk of the same number
            raise RuntimeError(f"Dask cut {len(frame)} rows at {table.divisions}, not every {size}")
        parts = table.to_delayed()
        call = dask.delayed(_reset_index, pure=True)
        pending = iter(todo)
        running: dict = {}  # future -> (chunk number, the engines' future it was given)
        finished: queue.SimpleQueue = queue.SimpleQueue()  # futures as they finish, fail or vanish
        engines = self._ship(shared)
        shipped = 1

        def submit(c: int) -> None:
            future = self.client.compute(dask.delayed(fn, pure=False)(engines, call(parts[c]),
                                                                      *extra(c)))
            running[future] = c, engines
            future.add_done_callback(finished.put)

        for c in itertools.islice(pending, self.in_flight):
            submit(c)
        progress = time.monotonic()
        try:
            while running:
                try:
                    future = finished.get(timeout=min(self.stall_timeout, 10))
                except queue.Empty:
                    if time.monotonic() - progress > self.stall_timeout:
                        self._check_not_stalled(sorted(c for c, _ in running.values()))
                    continue
                progress = time.monotonic()
                c, given = running.pop(future)
                try:
                    result = future.result()
                except Exception as exc:  # noqa: BLE001 - every task failure is reported the same way
                    lost = isinstance(exc, CancelledError) and given.status != "finished"
                    if not lost or (given is engines and shipped > self.reships):
                        raise task_error(exc, c) from exc
                    # every worker holding the engines died, and Dask forgot them with the chunks
                    # given them: ship them again (once for all those chunks) and redo the chunk
                    if given is engines:
                        engines = self._ship(shared)
                        shipped += 1
                    submit(c)
                    continue
                yield c, result
                following = next(pending, None)
                if following is not None:
                    submit(following)
        finally:
            if running:  # stopped early: the cluster need not finish what nobody will read
                with contextlib.suppress(Exception):
                    self.client.cancel(list(running))
            running.clear()
            engines = None

    def _ship(self, shared):
        """The shared objects on every worker, as one Dask future under a key of its own (a
        dict given to ``scatter`` would be scattered item by item under its own keys, such
        as ``popular``, which another run on the same scheduler may use too)."""
        try:
            return self.client.scatter([shared], broadcast=True, hash=False)[0]
        except TimeoutError as exc:  # no worker running (all paused, or gone) to take them
            raise ClusterError(f"no Dask worker could take the engines: {exc}",
                               hint="look at the workers' logs (memory limits?) and run the same "
                                    "command again; the chunks already done are kept") from exc

    def _check_not_stalled(self, waiting: list[int]) -> None:
        """Raise ClusterError when no worker runs anything while ``waiting`` chunks wait."""
        workers = self.client.scheduler_info()["workers"].values()
        if any(w.get("metrics", {}).get("task_counts", {}).get("executing") for w in workers):
            return  # a slow chunk, or other work on a shared cluster: still moving
        raise ClusterError(
            f"no chunk finished in {self.stall_timeout:g} s and none of the {len(workers)} Dask "
            f"workers is running anything, while chunks {_few(waiting)} wait (workers lost, "
            "paused for memory, or unable to get the engines)",
            hint="the chunks already done are kept; look at the workers' logs (memory limits?) "
                 "and run the same command again to resume")


def _few(numbers: list[int], shown: int = 5) -> str:
    text = ", ".join(map(str, numbers[:shown]))
    return text + (f" and {len(numbers) - shown} more" if len(numbers) > shown else "")


def _reset_index(part: pd.DataFrame) -> pd.DataFrame:
    return part.reset_index(drop=True)


def task_error(exc: Exception, c: int) -> Exception:
    """A task failure as the user should see it: workers that died (and took the task,
    or the engines shipped to them, with them) are a cluster failure."""
    from concurrent.futures import CancelledError

    from distributed import KilledWorker

    if isinstance(exc, (KilledWorker, CancelledError)):
        what = "died while scoring chunk" if isinstance(exc, KilledWorker) else \
            "were lost (with the task or the engines shipped to them) while scoring chunk"
        return ClusterError(f"Dask workers {what} {c}, and retrying did not help: "
                            f"{type(exc).__name__}: {exc}",
                            hint="the chunks already done are kept; look at the workers' logs "
                                 "(memory limits?) and run the same command again to resume")
    return exc


@contextlib.contextmanager
def chunk_runner(jobs: int | None = None, dask: str | None = None):
    """The runner the command line asks for: ``dask`` is a scheduler address, ``"local"``
    for a local cluster of ``jobs`` workers (default: one per core), or ``None`` for
    this machine: ``jobs`` joblib processes, or this process alone."""
    check_jobs(jobs)
    if dask is None:
        yield JoblibRunner(jobs) if jobs and jobs > 1 else LocalRunner()
        return
    with dask_client(None if dask == "local" else dask, workers=jobs) as client:
        yield DaskRunner(client)


#: The most --jobs a machine is given, per core: each job is a process holding the engines
#: (a thousand of them ran a 24 GiB machine out of memory with nothing said).
JOBS_PER_CORE = 4


def check_jobs(jobs: int | None) -> None:
    """Refuse a number of worker processes below 1 or far past this machine's cores."""
    if jobs is None:
        return
    if jobs < 1:
        raise SuggestError(f"--jobs must be at least 1, not {jobs}")
    cores = os.cpu_count() or 1
    if jobs > JOBS_PER_CORE * cores:
        raise SuggestError(f"--jobs {jobs} is far more than this machine's {cores} cores: each job "
                           "is a process holding the engines",
                           hint=f"use at most {JOBS_PER_CORE * cores} (--jobs {cores}: one per core); "
                                "for more workers, give --dask ADDRESS of a cluster")


def check_address(address: str) -> str:
    """A scheduler address as Dask takes it (``tcp://host:8786``, ``host:8786``, ...)."""
    scheme = address.split("://", 1)[0].lower() if "://" in address else None
    if scheme in ("http", "https"):  # a dashboard's link, pasted
        raise SuggestError(f"--dask {address!r} is a web address: a Dask scheduler speaks its "
                           "own protocol", hint="give tcp://HOST:PORT (8786 by default; the "
                                                "dashboard's port, 8787, is not the scheduler's)")
    if "://" in address or re.fullmatch(r"[\w.\-\[\]:]+:\d+", address):
        rest = address.split("://", 1)[-1]
        if scheme in (None, "tcp", "tls") and not re.fullmatch(r"[\w.\-\[\]:@]+:\d+", rest):
            # Dask's own parse failed inside the connection, said as "cannot reach ... within
            # 5 s: invalid literal for int()"; nothing had been tried
            extra = re.fullmatch(r"([\w.\-\[\]:@]+:\d+)(.+)", rest)
            raise SuggestError(
                f"--dask {address!r} is not a scheduler address: "
                + (f"remove {extra.group(2)!r} after the port" if extra else "it has no port"),
                hint="give one like tcp://10.0.0.5:8786; a Dask scheduler listens on 8786 by "
                     "default")
        port = re.search(r":(\d+)$", address)
        if port and not 0 < int(port.group(1)) < 65536:
            raise SuggestError(f"--dask {address!r}: port {port.group(1)} is not a port (1 to "
                               "65535)", hint="a Dask scheduler listens on 8786 by default")
        return address
    raise SuggestError(f"--dask {address!r} is not a scheduler address",
                       hint="give one like tcp://10.0.0.5:8786; for a local cluster give --dask "
                            "with no value (after LOG, or before another option)")


def _probe(address: str, timeout: float) -> dict:
    """The identity of what listens at ``address``, asked the way Dask asks (``{"op":
    "identity"}``), each step within ``timeout``: a Client's own time-out bounds the
    connection only, and it waited for ever on something that accepts connections but
    speaks no Dask (a dashboard's port, a web server). OSError when nothing can be reached;
    asyncio's TimeoutError when something answered but no Dask reply came."""
    import asyncio

    from distributed.comm import connect

    async def ask() -> dict:
        comm = await asyncio.wait_for(connect(address, timeout=timeout), timeout + 1)
        try:
            await asyncio.wait_for(comm.write({"op": "identity"}), timeout)
            return await asyncio.wait_for(comm.read(), timeout)
        finally:
            comm.abort()

    # in a thread of its own: a caller's thread may run an event loop already (a notebook's),
    # where asyncio.run refuses to start another
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(ask())).result()


#: How long a command waits for a first worker on a scheduler that has none, in seconds.
WORKERS_WAIT = 60.0


@contextlib.contextmanager
def dask_client(address: str | None, workers: int | None = None, timeout: float = 5,
                processes: bool = True):
    """A ``distributed.Client`` on ``address``, or on a local cluster of ``workers``
    single-threaded worker processes that is started here and closed on exit.

    Raises
    ------
    SuggestError
        When Dask is not installed or the scheduler cannot be reached within
        ``timeout`` seconds (exit code 2: the address is the user's input).
    """
    if address and workers is not None:
        raise SuggestError(f"--jobs {workers} with --dask {address}: the cluster there has its own "
                           "workers", hint="drop --jobs, or give --dask without an address for a "
                                           "local cluster of --jobs workers")
    check_jobs(workers)
    if address:
        check_address(address)
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError:
        raise SuggestError("--dask needs Dask: it is not installed",
                           hint="from the project folder: pip install '.[dask]' (it adds "
                                "dask[dataframe,distributed])") from None
    if address:
        import asyncio

        failure, client = None, None
        not_dask = SuggestError(
            f"{address} answered, but not as a Dask scheduler (its reply is not Dask's "
            "protocol)", hint="check the port: a Dask scheduler listens on 8786 by default "
                              "(tcp://HOST:8786), its dashboard on 8787")

        def unreachable(exc: BaseException) -> SuggestError:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            return SuggestError(
                f"cannot reach the Dask scheduler at {address} within {timeout:g} s: {reason}",
                hint="check the address and port (tcp://HOST:8786) and that `dask scheduler` runs "
                     "there; `--dask` with no address starts a local cluster")

        try:
            found = _probe(address, timeout)
        except (asyncio.TimeoutError, TimeoutError):  # connected, but no Dask reply came
            failure = not_dask                     # (before OSError: it is one on 3.11+)
        except (OSError, ValueError) as exc:
            failure = unreachable(exc)
        except Exception:  # a reply that is not Dask's (read as a huge "frame": MemoryError, ...)
            failure = not_dask
        else:
            kind = found.get("type") if isinstance(found, dict) else None
            if kind != "Scheduler":
                failure = not_dask if kind is None else SuggestError(
                    f"{address} is a Dask {str(kind).lower()}, not the scheduler",
                    hint="give the scheduler's address, which `dask scheduler` prints and each "
                         "`dask worker` is started with")
            else:
                try:
                    client = Client(address, timeout=f"{timeout}s")
                except (OSError, TimeoutError, ValueError) as exc:
                    failure = unreachable(exc)
        if failure is not None:
            # The Client that failed is left half-built, in a reference cycle; after a reply that
            # is not Dask's it is still "connecting", its event loop running. Whenever the garbage
            # collector finalizes it, its __del__ stops that loop under distributed's class-wide
            # LoopRunner lock: a collection that happens while this thread holds that lock
            # (starting the next LocalCluster or Client) waits for itself forever, as a CI run
            # of the tests did. So it is finalized here, where no such lock is held.
            gc.collect()
            raise failure
        with client:
            _wait_for_workers(client, address)
            with _workers_die_in_a_sentence(), _no_workers_left_stops(client, address), \
                    _quiet_when_interrupted():  # before the client closes
                yield client
        return
    # The local scheduler runs in this process: its notes on each shuffle (WARNING, though
    # nothing is wrong) would land in the user's terminal
    logging.getLogger("distributed.shuffle").setLevel(logging.ERROR)
    # Dask's active memory manager drops "superfluous" copies of data; the engines are
    # broadcast so that every worker keeps its copy for the whole run
    with dask.config.set({"distributed.scheduler.active-memory-manager.start": False}), \
            LocalCluster(n_workers=workers, threads_per_worker=1, processes=processes,
                         dashboard_address=":0") as cluster, Client(cluster) as client:
        if processes:  # what our own workers print (LightGBM's chatter) must not mix with --json
            client.run(_stdout_to_stderr)
        client.run(_quiet_user_errors)
        with _workers_die_in_a_sentence(), _quiet_when_interrupted():
            yield client


@contextlib.contextmanager
def _quiet_when_interrupted():
    """On Ctrl-C, the client's pending gathers are abandoned as it closes, and asyncio logs
    each one's ``AllExit`` as "Task exception was never retrieved" with a traceback (four
    of them before `train --dask` said "interrupted"). Under the command line the process
    is ending, so asyncio's and distributed's logs are silenced from there on; a Python
    session (a notebook) keeps its logging."""
    try:
        yield
    except KeyboardInterrupt:
        import suggest

        if getattr(suggest, "command_line", False):  # set by suggest.cli
            for name in ("asyncio", "distributed"):
                logging.getLogger(name).setLevel(logging.CRITICAL + 1)
        raise


def _wait_for_workers(client, address: str, wait: float | None = None) -> None:
    """Return once the scheduler at ``address`` has a worker; say so while waiting, and give
    up after ``wait`` seconds (default ``WORKERS_WAIT``) with a ClusterError: work sent to
    a scheduler without workers waited for ever, with nothing said."""
    import sys

    if client.scheduler_info()["workers"]:
        return
    wait = WORKERS_WAIT if wait is None else wait
    print(f"waiting up to {wait:g} s for a Dask worker to connect to {address}", file=sys.stderr)
    try:
        client.wait_for_workers(1, timeout=wait)
    except (TimeoutError, OSError):
        raise ClusterError(f"no Dask worker connected to the scheduler at {address} in "
                           f"{wait:g} s", hint=f"start workers with `dask worker {address}`, "
                                               "then run the same command again") from None


@contextlib.contextmanager
def _no_workers_left_stops(client, address: str, every: float = 2.0):
    """While the command runs on an external cluster: when the scheduler has had no worker for
    ``WORKERS_WAIT`` seconds (every one killed, or stopped), the main thread is interrupted
    and a ClusterError raised; the work waited for ever, with nothing said. Only from the
    main thread (a signal is how a thread blocked on a future is woken)."""
    import _thread
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    gone, done = threading.Event(), threading.Event()

    def watch() -> None:
        since = None
        while not done.wait(every):
            try:
                workers = client.scheduler_info()["workers"]
            except Exception:  # a passing hiccup of the scheduler: ask again
                continue
            if workers:
                since = None
            elif since is None:
                since = time.monotonic()
            elif time.monotonic() - since >= WORKERS_WAIT:
                gone.set()
                # again until the main thread is out. A signal the main thread has blocked
                # (loky blocks SIGINT while it starts its resource tracker) stays pending: a
                # CI run waited on a task for ever. interrupt_main trips Python's own flag,
                # which the main thread reads when its wait wakes (Dask's every 10 s); the
                # signal wakes a wait at once when it is not blocked.
                while True:
                    signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
                    _thread.interrupt_main()
                    if done.wait(every):
                        return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield
    except KeyboardInterrupt:
        if not gone.is_set():
            raise
        raise ClusterError(
            f"every Dask worker left the scheduler at {address} and none came back in "
            f"{WORKERS_WAIT:g} s", hint=f"start workers with `dask worker {address}` and run "
                                        "the same command again (a replay resumes from the "
                                        "chunks kept)") from None
    finally:
        done.set()
        watcher.join()


@contextlib.contextmanager
def _workers_die_in_a_sentence():
    """A task whose workers kept dying (Dask gives up after a few) ends the command in a
    ClusterError, not a traceback, wherever it was awaited."""
    from distributed import KilledWorker

    try:
        yield
    except KilledWorker as exc:
        raise ClusterError(f"Dask workers died running a task, and retrying did not help: {exc}",
                           hint="look at the workers' logs (memory limits?) and run the same "
                                "command again (a replay resumes from the chunks kept)") from None


def _quiet_user_errors() -> None:
    """On a local worker: a task that stops on the user's error (a SuggestError: a model
    folder that is missing, damaged or for another log) is not logged with its traceback;
    the command prints that error itself, once, as the local path does; nor is a task the
    command cancelled (Ctrl-C). Other failures are logged as Dask logs them."""
    import logging
    import os

    from suggest.errors import SuggestError

    import suggest.rules.model  # noqa: F401  (its errors are SuggestErrors too)
    import suggest.rules.regex  # noqa: F401

    def names(cls):
        return {cls.__name__}.union(*(names(sub) for sub in cls.__subclasses__()))

    ours = names(SuggestError)

    class UserErrors(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            if not str(record.msg).startswith("Compute Failed") or len(record.args or ()) < 5:
                return True
            # ours by its class's name, raised in this package (pandas has a DataError too)
            raised = str(record.args[4]).rsplit('File "', 1)[-1].split('"', 1)[0]
            return not (str(record.args[3]).split("(", 1)[0] in ours
                        and f"{os.sep}suggest{os.sep}" in raised)

    class Cancelled(logging.Filter):  # the command cancels its own tasks (Ctrl-C, a lost
        def filter(self, record: logging.LogRecord) -> bool:  # worker): it says so itself
            return "ended with CancelledError" not in record.getMessage()

    for name, kind in (("distributed.worker", UserErrors),
                       ("distributed.worker.state_machine", Cancelled)):
        worker_log = logging.getLogger(name)
        if not any(type(f).__name__ == kind.__name__ for f in worker_log.filters):  # once a process
            worker_log.addFilter(kind())


def _stdout_to_stderr() -> None:
    """In a local worker process: send standard output to standard error."""
    import os
    import sys

    sys.stdout.flush()
    os.dup2(2, 1)
