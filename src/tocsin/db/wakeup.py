"""Wake the in-process engine early when something falls due sooner than it planned to look.

Only an optimisation: an engine that missed a wake-up finds the work on its next regular
tick. But it is what makes a page leave within milliseconds of the alert instead of up to a
whole engine interval later, so two races matter:

- A wake-up sent from inside a transaction reached the engine before the commit: it looked,
  saw nothing yet, and went back to sleep for the full interval. `after_commit()` holds the
  wake-up until the session commits (and drops it on rollback).
- A wake-up that arrived while the engine was busy was lost when it went to sleep. The engine
  now sleeps only if nothing was notified since it last looked (`generation()`).

Across processes (`serve --workers N`, or `tocsin engine` beside `serve --no-engine`): a
commit in a serving worker must wake the engine in the process that holds the engine lease.
The same-process path above stays (a condition variable, no system call); beside it:

- PostgreSQL: the committing transaction says `NOTIFY tocsin_wakeup` just before it commits.
  PostgreSQL delivers it at the commit, and drops it on a rollback, to the engine's
  `LISTEN` connection, on whichever host that runs (`Listener`).
- SQLite (one host by nature): after the commit, one datagram to a Unix socket named after
  the database file, which the lease holder has bound (an abstract socket on Linux: nothing
  on disk to go stale when the holder dies). Sending is non-blocking and best effort: no
  listener, or a full queue (the engine has wake-ups waiting already), costs nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import select
import socket
import sys
import tempfile
import threading
from typing import Any

from sqlalchemy import event, make_url, text
from sqlalchemy.orm import Session

log = logging.getLogger("tocsin.engine")
CHANNEL = "tocsin_wakeup"  # PostgreSQL's LISTEN/NOTIFY channel

_condition = threading.Condition()
_generation = 0
PENDING = "tocsin.db.wakeup"  # where a session keeps its wake-up until it commits


def notify() -> None:
    """Wake the engine now (for work already committed)."""
    global _generation
    with _condition:
        _generation += 1
        _condition.notify_all()


def after_commit(session: Session) -> None:
    """Wake the engine once this session's transaction has committed (it then works out for
    itself what is due and when)."""
    session.info[PENDING] = True


def generation() -> int:
    """A number that changes whenever notify() is called."""
    with _condition:
        return _generation


def wait(timeout: float, *, unless_notified_since: int | None = None) -> None:
    """Sleep up to `timeout` seconds, or until notify(); at once if notify() was called
    after `generation()` returned `unless_notified_since`."""
    with _condition:
        if unless_notified_since is not None and _generation != unless_notified_since:
            return
        _condition.wait(timeout)


# SQLAlchemy fires these for savepoints too (the intake writer stores each delivery under
# one): only the end of the outermost transaction counts.


@event.listens_for(Session, "before_commit")
def _notify_other_processes(session: Session) -> None:
    """On PostgreSQL, inside the transaction: delivered at its commit, dropped on rollback."""
    if session.in_nested_transaction() or PENDING not in session.info:
        return
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"NOTIFY {CHANNEL}"))


@event.listens_for(Session, "after_commit")
def _deliver(session: Session) -> None:
    if not session.in_nested_transaction() and session.info.pop(PENDING, None) is not None:
        notify()
        url = session.get_bind().engine.url
        if url.get_backend_name() == "sqlite":
            _send_datagram(sqlite_address(url.database or ""))


# SQLite: datagrams to the lease holder's socket.

_sender: socket.socket | None = None
_listening_on: str | None = None  # this process's own socket: no need to send to ourselves


def sqlite_address(database_path: str) -> str:
    """The socket the engine of the SQLite database at this path listens on."""
    digest = hashlib.sha256(os.path.abspath(database_path).encode()).hexdigest()[:24]
    name = f"tocsin-wakeup-{digest}"
    if sys.platform == "linux":
        return "\0" + name  # abstract: gone with the process that bound it
    return os.path.join(tempfile.gettempdir(), f"{name}.sock")


def _send_datagram(address: str) -> None:
    global _sender
    if address == _listening_on:
        return
    try:
        if _sender is None:
            _sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            _sender.setblocking(False)
        _sender.sendto(b"!", address)
    except OSError:
        pass  # nobody listening, or wake-ups already queued: the next tick finds the work


class Listener:
    """In the engine lease holder: turn other processes' wake-ups into `notify()`."""

    def __init__(self, database_url: str) -> None:
        self.url = make_url(database_url)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._address = ""

    def start(self) -> None:
        global _listening_on
        if self.url.get_backend_name() == "sqlite":
            self._address = sqlite_address(self.url.database or "")
            try:
                self._socket = _bind(self._address)
            except OSError as exc:  # an engine that lost the lease but still runs holds it
                log.warning("engine wake-ups from other processes unavailable: %s", exc)
                return
            _listening_on = self._address
            target = self._receive_datagrams
        else:
            target = self._listen_postgresql
        self._thread = threading.Thread(target=target, name="tocsin-wakeup", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        global _listening_on
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._socket is not None:
            _listening_on = None
            self._socket.close()
            if not self._address.startswith("\0"):
                with contextlib.suppress(OSError):
                    os.unlink(self._address)

    def _receive_datagrams(self) -> None:
        assert self._socket is not None
        while not self._stopping.is_set():
            ready, _, _ = select.select([self._socket], [], [], 0.5)
            if not ready:
                continue
            with contextlib.suppress(BlockingIOError):
                while self._socket.recv(64):  # drain: one wake-up covers them all
                    pass
            notify()

    def _listen_postgresql(self) -> None:
        import psycopg

        conninfo = self.url.set(drivername="postgresql").render_as_string(hide_password=False)
        while not self._stopping.is_set():
            try:
                with psycopg.connect(conninfo, autocommit=True) as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    notify()  # anything committed while we were not listening
                    while not self._stopping.is_set():
                        for _ in connection.notifies(timeout=0.5, stop_after=1):
                            notify()
            except psycopg.Error as exc:
                log.warning("engine wake-ups from other processes interrupted: %s", exc)
                self._stopping.wait(1.0)


def _bind(address: str) -> socket.socket:
    listening = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if not address.startswith("\0"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(address)  # a previous holder's, left by a crash (we hold the lease now)
    listening.bind(address)
    listening.setblocking(False)
    return listening


@event.listens_for(Session, "after_rollback")
def _drop(session: Session, *_: Any) -> None:
    if not session.in_nested_transaction():
        session.info.pop(PENDING, None)
