"""thredo.net: cancellable networking for thredo threads.

``socket`` mirrors the stdlib module with cancellable blocking calls;
``SocketStream``/``FileStream`` are buffered streams that report partial
progress when cancelled; ``tcp_server``/``unix_server`` run a
thread-per-connection server that one cancel shuts down completely.
"""

from .._meta import fixup_module_metadata as _fixup_module_metadata
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

_fixup_module_metadata(globals(), __name__, __all__)
