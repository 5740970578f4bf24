"""thredo.run(): the entry point -- the main thread, the monitor, the core's kernel.

The kernel itself (phases of a run, Ctrl-C) is ``thredo._core._kernel``;
this module adds what lies above the core: the main :class:`~thredo.Thread`
(handed to the kernel through the ``MainThread`` protocol) and the monitor
(``monitor=True`` or ``THREDO_MONITOR=1``), which is started before the
kernel and removed after it: it lives in its own plain OS threads
(``thredo._monitor``) and needs nothing from the kernel.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, overload

from . import _monitor
from ._core import current_state, run_kernel
from ._threads import new_main_thread

__all__ = ("run",)

if TYPE_CHECKING:
    # Type checkers only (they bundle typing_extensions' stubs): no run-time dependency.
    from typing_extensions import TypeVarTuple, Unpack

    Ts = TypeVarTuple("Ts")

T = TypeVar("T")
P = ParamSpec("P")


# Typed as thredo.spawn, for the same reason (a keyword of run's own,
# ``monitor``, beside func's arguments; see the note on spawn): without
# ``monitor`` every argument is checked; with it, the positional ones, and
# func's keywords (if any) are not (the last overload requires ``monitor``,
# so a call without it never reaches that one).
@overload
def run(func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T: ...


@overload
def run(func: Callable[[Unpack[Ts]], T], *args: Unpack[Ts], monitor: bool = ...) -> T: ...


@overload
def run(func: Callable[[Unpack[Ts]], T], *args: Unpack[Ts], monitor: bool, **kwargs: Any) -> T: ...


def run(  # type: ignore[misc]
    func: Callable[..., T], *args: Any, monitor: bool = False, **kwargs: Any
) -> T:
    """Run ``func(*args, **kwargs)`` in a thredo thread under a new curio kernel.

    With ``monitor=True`` (or ``THREDO_MONITOR=1`` in the environment) the
    process serves a monitor while the run lasts (``python -m thredo.monitor
    PID``; ``docs/monitor.md``), on a Unix socket only the same user can
    open.  ``monitor`` is therefore the one keyword not passed on to ``func``.

    Returns its result or re-raises its exception unchanged, after every
    non-daemon thread it started has exited and every daemon thread has been
    cancelled and has exited.  Ctrl-C (in the main thread) cancels the main
    thredo thread, lets it unwind, then raises ``KeyboardInterrupt``; a
    second Ctrl-C raises it at once.  May be called again after it returns,
    and from any plain thread (without Ctrl-C handling there).

    Raises:
        RuntimeError: called from inside a thredo thread.
        TypeError: ``func`` is an async function (use :func:`thredo.AWAIT`
            inside a plain one).
    """
    if current_state() is not None:
        raise RuntimeError("thredo.run() cannot be called from inside a thredo thread")
    main = new_main_thread(func, args, kwargs)
    monitored = False
    try:
        monitored = _monitor.wanted(monitor) and _monitor.acquire()
        return run_kernel(main)  # type: ignore[no-any-return]
    finally:
        if monitored:
            _monitor.release()
