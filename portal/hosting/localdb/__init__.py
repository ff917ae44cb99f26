"""PostgreSQL and Redis from the system's packages, run as local processes.

The tests and ``make up DB=postgres`` need a real database server and a real Redis, yet
must not depend on (or disturb) a system service: each server here runs from Debian's
binaries (``postgresql``, ``redis-server``) on the port it is given, listening on
127.0.0.1 only, with everything it writes in one folder of its own. A system cluster the
package may have started on 5432 is never touched: our PostgreSQL has its own data,
port and unix-socket folder.

PostgreSQL refuses to run as root, so as root it runs as the ``postgres`` system user
that Debian's package creates (its folder is handed over to that user). Clients connect
over TCP with a password generated at ``initdb`` and kept in the folder, so a later
process (``make down``, a second test run) finds the same server again.

Only the standard library at import: kcctl's callers may use this package without the
portal's dependencies (``create_database`` imports psycopg, ``is_ready`` of Redis redis-py).
"""

from .common import ServerError, ServerNotInstalled, free_port
from .postgres_server import PostgresServer, postgres_bin
from .redis_server import RedisServer

__all__ = [
    "PostgresServer",
    "RedisServer",
    "ServerError",
    "ServerNotInstalled",
    "free_port",
    "postgres_bin",
]
