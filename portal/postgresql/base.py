"""Django's PostgreSQL backend, with a health check that costs no round trip and
cursors for the statements that every request of a kind sends.

With ``CONN_HEALTH_CHECKS`` Django checks a kept connection before the first query
of each request. Its PostgreSQL backend does so with ``SELECT 1``: a round trip to
the server for every request, as dear as the one query a package download makes.

An idle connection that works has nothing to read. One the server has closed (a
restart, ``pg_terminate_backend``, an idle timeout) has: the server's last message
and the end of the stream. So this check asks the operating system, without
waiting, whether the socket has anything to read. Nothing: the connection is fine,
as far as anyone can tell without asking the server. Something: the server spoke
unasked, and Django's own ``SELECT 1`` decides. A peer that vanished without a word
(a cable cut) passes either check until TCP gives up on it.
"""

import select

from django.db.backends.postgresql import base, operations
from psycopg import errors


class DatabaseOperations(operations.DatabaseOperations):
    def last_executed_query(self, cursor, sql, params):
        # What Django logs and tests capture: for a statement of prepared_cursor(),
        # its text with the parameters filled in, as Django's own server-binding
        # setting shows it (the driver keeps no such text of a prepared statement).
        if isinstance(cursor, base.ServerBindingCursor):
            try:
                return self.compose_sql(sql, params)
            except errors.DataError:
                return None
        return super().last_executed_query(cursor, sql, params)


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations

    def is_usable(self):
        if self.connection is None or self.connection.closed:
            return False
        try:
            # A timeout of 0: under gevent too, a poll that never waits.
            readable, _, _ = select.select([self.connection.fileno()], [], [], 0)
        except (OSError, ValueError):
            return False
        if readable:
            return super().is_usable()
        return True

    def prepared_cursor(self):
        """A cursor whose parameters the server binds, so that psycopg prepares a
        statement once this connection has run it ``prepare_threshold`` times (the
        settings: DATABASE_PREPARED_STATEMENTS); then PostgreSQL neither parses nor
        plans it again. Django's own cursors bind parameters in the client, which
        never prepares and has no limit on their number; the server takes 65,535.

        What ``cursor()`` does, with the other cursor class: the health check, the
        connection, and Django's wrapper (errors, query logging, execute wrappers).
        """
        self.close_if_health_check_failed()
        self.ensure_connection()
        self.validate_thread_sharing()
        with self.wrap_database_errors:
            cursor = base.ServerBindingCursor(self.connection)
        return self.make_debug_cursor(cursor) if self.queries_logged else self.make_cursor(cursor)
