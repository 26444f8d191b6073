"""Django's PostgreSQL backend, with a health check that costs no round trip and
cursors for the statements that every request of a kind sends.

With ``CONN_HEALTH_CHECKS`` Django checks a kept connection before the first query
of each request. Its PostgreSQL backend does so with ``SELECT 1``: a round trip to
the server for every request, as dear as the one query a package download makes.

An idle connection that works has nothing to read. One the server has closed (a
restart, ``pg_terminate_backend``, an idle timeout) has: the server's last message
and the end of the stream. So this check has libpq read what is waiting on the
socket, which it does without waiting (its sockets never block): twice, since the
first read takes the last message and only the second meets the end. Both find
nothing on a working connection, and no query goes out. A peer that vanished
without a word (a cable cut) passes this check as it passes ``SELECT 1``: until TCP
gives up on it. Not ``select()`` on the socket: gevent replaces it, and it fails on
descriptors past 1,023, which a busy worker reaches.
"""

import psycopg
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
        pgconn = self.connection.pgconn
        try:
            pgconn.consume_input()
            pgconn.consume_input()
        except psycopg.OperationalError:
            return False
        return pgconn.status == psycopg.pq.ConnStatus.OK

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
