"""thredo.net: cancellable networking for thredo threads.

``socket`` mirrors the stdlib module with cancellable blocking calls;
``SocketStream``/``FileStream`` are buffered streams that report partial
progress when cancelled; ``tcp_server``/``unix_server`` run a
thread-per-connection server that one cancel shuts down completely.
"""

import sys as _sys
from typing import TYPE_CHECKING as _TYPE_CHECKING

from .._meta import fixup_module_metadata as _fixup_module_metadata

# Every name is loaded on first use (PEP 562 ``__getattr__``, issue 22.9):
# ``import thredo.net.socket`` need not import ssl, subprocess and the
# servers.  The imports below are what the type checker reads.
if _TYPE_CHECKING:
    from . import select as select
    from . import selectors as selectors
    from . import socket as socket
    from . import ssl as ssl
    from . import subprocess as subprocess
    from ._servers import open_connection as open_connection
    from ._servers import open_unix_connection as open_unix_connection
    from ._servers import run_server as run_server
    from ._servers import tcp_server as tcp_server
    from ._servers import tcp_server_socket as tcp_server_socket
    from ._servers import unix_server as unix_server
    from ._servers import unix_server_socket as unix_server_socket
    from ._streams import FileStream as FileStream
    from ._streams import SocketStream as SocketStream

# name -> (its module in thredo.net; its name there, "" for the module itself)
_LAZY: dict[str, tuple[str, str]] = {
    "select": ("select", ""),
    "selectors": ("selectors", ""),
    "socket": ("socket", ""),
    "ssl": ("ssl", ""),
    "subprocess": ("subprocess", ""),
    "open_connection": ("_servers", "open_connection"),
    "open_unix_connection": ("_servers", "open_unix_connection"),
    "run_server": ("_servers", "run_server"),
    "tcp_server": ("_servers", "tcp_server"),
    "tcp_server_socket": ("_servers", "tcp_server_socket"),
    "unix_server": ("_servers", "unix_server"),
    "unix_server_socket": ("_servers", "unix_server_socket"),
    "FileStream": ("_streams", "FileStream"),
    "SocketStream": ("_streams", "SocketStream"),
}


def __getattr__(name: str) -> object:
    """Import a public name's module on first use, then keep the name here (PEP 562)."""
    try:
        home, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    # Literal imports, one per module, so the layering check sees them.
    if home == "select":
        import thredo.net.select
    elif home == "selectors":
        import thredo.net.selectors
    elif home == "socket":
        import thredo.net.socket
    elif home == "ssl":
        import thredo.net.ssl
    elif home == "subprocess":
        import thredo.net.subprocess
    elif home == "_servers":
        import thredo.net._servers
    elif home == "_streams":
        import thredo.net._streams  # noqa: F401 (bound as thredo; read from sys.modules)
    module = _sys.modules[f"{__name__}.{home}"]
    value = getattr(module, attr) if attr else module
    globals()[name] = value
    _fixup_module_metadata(globals(), __name__, (name,))
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = (
    "socket",
    "select",
    "selectors",
    "ssl",
    "subprocess",
    "SocketStream",
    "FileStream",
    "tcp_server",
    "unix_server",
    "tcp_server_socket",
    "unix_server_socket",
    "run_server",
    "open_connection",
    "open_unix_connection",
)
