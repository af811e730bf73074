"""Database routers the fence tests install: the test app's models live in the
SQLite file database "filedb"; with ``PrimaryReplicaRouter`` they are read from
its replica "filedb_replica" (a test mirror: the same file, another connection)."""


class FileDbRouter:
    def db_for_read(self, model, **hints):
        return "filedb" if model._meta.app_label == "testapp" else None

    def db_for_write(self, model, **hints):
        return "filedb" if model._meta.app_label == "testapp" else None


class PrimaryReplicaRouter(FileDbRouter):
    def db_for_read(self, model, **hints):
        return "filedb_replica" if model._meta.app_label == "testapp" else None


class PostgresPrimaryReplicaRouter:
    """On PostgreSQL: written to "default", read from its mirror "pg_replica"."""

    def db_for_read(self, model, **hints):
        return "pg_replica" if model._meta.app_label == "testapp" else None

    def db_for_write(self, model, **hints):
        return "default" if model._meta.app_label == "testapp" else None
