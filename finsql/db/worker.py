"""Untrusted SQL runs in a worker process of its own, with a hard memory cap, and is killed when it overruns.

Some DuckDB functions neither check for interrupts nor count their memory against ``memory_limit``
(``list_resize([1], 1e9)``, ``range(2e9)``, ``repeat('x', 2e9)``): a timer calling ``interrupt()`` cannot
stop them and the process grows until the machine swaps. So each database gets a worker
(``python -m finsql.db.worker``) holding its own read-only, locked connection with DuckDB's ``memory_limit``,
``threads`` and a spill folder inside the cache of bounded size, under an address-space limit
(``RLIMIT_AS``) a little above the memory limit: an allocation past it fails inside the worker and comes back
as one error. A query that overruns its time is ended by killing the worker (the next query starts a new one).
The model's process never holds a query's data beyond the rows fetched.

Messages are pickled over the worker's stdin and stdout: ``(sql, max_rows)`` in; ``("ok", columns, rows,
seconds)`` or ``("error", kind, message)`` out; ``None`` asks the worker to stop.
"""

from __future__ import annotations

import atexit
import os
import pickle
import select
import subprocess
import sys
import time
from collections import OrderedDict
from dataclasses import dataclass

from finsql.errors import DatabaseError, QueryFailed, SQLRefused, UsageError, first_line
from finsql.paths import cache_dir

MEMORY_ENV = "FINSQL_MEMORY_LIMIT"
HEADROOM = 768 * 2**20
"""Address space above the memory limit for the interpreter, DuckDB's code and thread stacks."""
MAX_WORKERS = 4
"""Worker processes kept running at once (each holds an interpreter, DuckDB and its buffer cache)."""
START_SECONDS = 60.0
"""How long a new worker may take to open its database (not counted against a query's timeout)."""
REFUSALS = frozenset({"PermissionException", "CatalogException", "ParserException"})
"""DuckDB errors that mean the statement itself is not allowed or names unknown objects."""
_UNITS = {"": 1, "B": 1, "KB": 2**10, "MB": 2**20, "GB": 2**30, "TB": 2**40}


def parse_size(text: str) -> int:
    """Bytes of a size such as ``2GB``, ``512MB`` or ``1073741824``; UsageError otherwise."""
    cleaned = text.strip().upper().replace(" ", "").removesuffix("IB").removesuffix("I")
    number = cleaned.rstrip("KMGTB")
    unit = cleaned[len(number) :]
    unit = unit if unit.endswith("B") or not unit else unit + "B"
    try:
        value = float(number) * _UNITS[unit]
    except (ValueError, KeyError):
        raise UsageError(f"not a memory size: {text!r} (for example 2GB or 512MB)") from None
    if value < 64 * 2**20:
        raise UsageError(f"memory limit {text!r} is below 64MB")
    return int(value)


def default_memory_limit() -> int:
    """``$FINSQL_MEMORY_LIMIT``, else a quarter of the machine's memory, at most 4 GB."""
    if os.environ.get(MEMORY_ENV):
        return parse_size(os.environ[MEMORY_ENV])
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return max(256 * 2**20, min(4 * 2**30, total // 4))


@dataclass(frozen=True)
class Limits:
    """What bounds a worker: DuckDB's memory limit (and, plus ``HEADROOM``, the address space) and threads."""

    memory_bytes: int
    threads: int = 2


class QueryWorker:
    """One database's worker process; started on first use and again after it was killed."""

    def __init__(self, path: str, limits: Limits) -> None:
        self.path, self.limits = path, limits
        self._proc: subprocess.Popen | None = None

    def _start(self) -> subprocess.Popen:
        spill = cache_dir() / "spill"
        spill.mkdir(parents=True, exist_ok=True)
        env = os.environ | {"MALLOC_ARENA_MAX": "2"}  # glibc arenas reserve address space per thread
        command = [sys.executable, "-m", "finsql.db.worker", self.path, str(self.limits.memory_bytes)]
        command += [str(self.limits.threads), str(spill)]
        proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env
        )
        reply = self._receive(proc, START_SECONDS)
        if reply is None or reply[0] != "ready":
            self._kill(proc)
            message = reply[2] if reply else "the query worker did not start"
            raise DatabaseError(f"cannot open database {self.path}: {message}")
        return proc

    @staticmethod
    def _receive(proc: subprocess.Popen, timeout_s: float) -> tuple | None:
        """The worker's next message, or None when none came in time or the worker ended."""
        ready, _, _ = select.select([proc.stdout], [], [], timeout_s)
        if not ready:
            return None
        try:
            return pickle.load(proc.stdout)
        except (EOFError, pickle.UnpicklingError, OSError):
            return None

    @staticmethod
    def _kill(proc: subprocess.Popen) -> None:
        proc.kill()
        proc.wait()
        for stream in (proc.stdin, proc.stdout):
            stream.close()

    def run(self, sql: str, timeout_s: float, max_rows: int) -> tuple[list[str], list[tuple], float]:
        """Columns, at most ``max_rows + 1`` rows and seconds of ``sql``; QueryFailed on an error, a timeout
        (the worker is killed) or the worker's end (out of memory)."""
        if self._proc is None or self._proc.poll() is not None:
            self._proc = self._start()
        proc = self._proc
        started = time.perf_counter()
        try:
            pickle.dump((sql, max_rows), proc.stdin)
            proc.stdin.flush()
        except OSError:
            reply = None
        else:
            reply = self._receive(proc, timeout_s)
        if reply is None:
            timed_out = proc.poll() is None and time.perf_counter() - started >= timeout_s
            self._kill(proc)
            self._proc = None
            if timed_out:
                raise QueryFailed(f"query timed out after {timeout_s:g}s")
            raise QueryFailed(
                f"query stopped: it needed more than the {_size(self.limits.memory_bytes)} limit"
            )
        if reply[0] == "error" and reply[1] in REFUSALS:
            raise SQLRefused(f"refused by the database: {reply[2]}")
        if reply[0] == "error":
            raise QueryFailed(_explain(reply[1], reply[2], self.limits))
        return reply[1], reply[2], reply[3]

    def close(self) -> None:
        """Stop the worker (killed if it does not stop at once)."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        try:
            pickle.dump(None, proc.stdin)
            proc.stdin.flush()
            proc.wait(timeout=2)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self._kill(proc)


def _size(n: int) -> str:
    return f"{n / 2**30:.1f}GB" if n >= 2**30 else f"{n / 2**20:.0f}MB"


def _explain(kind: str, message: str, limits: Limits) -> str:
    """One line for a query's error; out-of-memory ones name the limit and how to change it."""
    if kind == "OutOfMemoryException" or kind == "MemoryError":
        limit = _size(limits.memory_bytes)
        return f"query stopped: it needed more than the {limit} limit (--memory-limit or ${MEMORY_ENV})"
    return message


class WorkerPool:
    """The workers of this process, one per database file, all under the same limits."""

    def __init__(self) -> None:
        self._workers: OrderedDict[str, QueryWorker] = OrderedDict()
        self.limits: Limits | None = None

    def configure(self, limits: Limits | None) -> None:
        """Use ``limits`` (None: the defaults) for workers started from now on; running ones are stopped."""
        self.close()
        self.limits = limits

    def current_limits(self) -> Limits:
        """The limits in force: configured, else the defaults."""
        return self.limits or Limits(default_memory_limit())

    def worker(self, path: str) -> QueryWorker:
        """The worker of the database file at ``path``; the least recently used one stops when more than
        ``MAX_WORKERS`` would run (evaluating on many instances of a database opens many files)."""
        if path in self._workers:
            self._workers.move_to_end(path)
            return self._workers[path]
        while len(self._workers) >= MAX_WORKERS:
            _, oldest = self._workers.popitem(last=False)
            oldest.close()
        self._workers[path] = QueryWorker(path, self.current_limits())
        return self._workers[path]

    def close(self) -> None:
        """Stop every worker."""
        for worker in self._workers.values():
            worker.close()
        self._workers.clear()


POOL = WorkerPool()
atexit.register(POOL.close)


def _serve(path: str, memory_bytes: int, threads: int, spill: str) -> None:
    """The worker's loop (in its own process): open the database read-only under the limits, run queries."""
    import resource

    import duckdb

    from finsql.db.sandbox import locked_config

    out = sys.stdout.buffer
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes + HEADROOM, memory_bytes + HEADROOM))

    def send(message: object) -> None:
        try:
            data = pickle.dumps(message)
        except Exception as exc:  # noqa: BLE001 - a value that does not pickle, or no memory left for it
            data = pickle.dumps(("error", type(exc).__name__, f"cannot return the result: {first_line(exc)}"))
        out.write(data)
        out.flush()

    config = locked_config() | {
        "memory_limit": f"{memory_bytes // 2**20}MB",
        "threads": threads,
        "temp_directory": spill,
        "max_temp_directory_size": f"{memory_bytes // 2**20}MB",
    }
    try:
        con = duckdb.connect(path, read_only=True, config=config)
    except (duckdb.Error, MemoryError) as exc:
        send(("error", type(exc).__name__, first_line(exc)))
        return
    send(("ready",))
    while True:
        try:
            message = pickle.load(sys.stdin.buffer)
        except EOFError:
            return
        if message is None:
            return
        sql, max_rows = message
        started = time.perf_counter()
        try:
            con.execute(sql)
            columns = [d[0] for d in con.description or []]
            rows = con.fetchmany(max_rows + 1)
            send(("ok", columns, rows, time.perf_counter() - started))
        except Exception as exc:  # noqa: BLE001 - every failure is one message; the worker stays up
            send(("error", type(exc).__name__, first_line(exc)))


if __name__ == "__main__":
    _serve(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
