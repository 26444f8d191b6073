"""gunicorn's gevent worker, ending the database connections of each client connection.

The gevent worker serves each client connection in a greenlet of its own, every
request of a keep-alive connection in the same greenlet, and Django keeps database
connections per greenlet. So a database connection can serve every request of one
client connection (``CONN_MAX_AGE``): a restore's hundreds of requests on a few
keep-alive connections then open a few database connections, not hundreds. What
Django cannot tell is when the greenlet ends; left alone, its connections would stay
open until garbage collection. This worker closes them as the client connection
ends, in that greenlet, where Django can still see them.
"""

from gunicorn.workers.ggevent import GeventWorker


class Worker(GeventWorker):
    def handle(self, listener, client, addr):
        try:
            super().handle(listener, client, addr)
        finally:
            # Imported here: gunicorn's arbiter loads this class before the
            # application, and Django is set up only in the worker.
            from django.db import connections

            from audit.metrics import db_connections_counted

            connections.close_all()
            db_connections_counted()
