"""The read side: projections of the event log into tables, and the queries on them.

Data flows one way: events (the application's notification log) → projections (one
module per read model, each a ``ReadModel`` with its tables and ``@handles`` per event,
grouped in one ``ReadModelGroup``) → tables (rows and the group's tracking position,
committed in one transaction: exactly once, resumable) → queries. Two objects, both
built by ``csp.bootstrap``: ``ReadModels`` (``queries``) answers the web layer's queries
and read-your-writes (``wait``/``wait_for``, ``lag``), and the ``Projector``
(``projector``) applies the events, in a thread of ``csp serve`` on the embedded default
or in ``csp project`` (one active replica per group, the others stand by), and rebuilds
and audits for ``csp rebuild`` and ``csp audit verify``. The package imports the
aggregates' event classes, the application (to read the log) and ``csp.persistence``;
never the API or the workers. On SQLite the read models live in ``csp.read.db`` beside
the events' file; on PostgreSQL in the events' database.
"""

from __future__ import annotations

from csp.projections.projector import Projector, reader_env
from csp.projections.queries import GROUP_NAME, ReadModels, read_env, read_models
from csp.projections.query import Page
from csp.projections.rebuild import Progress, RebuildResult
from csp.projections.reports import REPORTS, TIMED_REPORTS, report_columns, sort_rows

__all__ = [
    "GROUP_NAME",
    "REPORTS",
    "TIMED_REPORTS",
    "Page",
    "Progress",
    "Projector",
    "ReadModels",
    "RebuildResult",
    "read_env",
    "read_models",
    "reader_env",
    "report_columns",
    "sort_rows",
]
