"""CSV export of a merchant's filtered payments, streamed in constant memory.

`transactions_csv` reads the rows in keyset batches (the selectors' filter and keyset terms;
each batch a short query in its own read session, the next one read ahead on a background thread)
and yields one encoded chunk per batch, so a million rows never sit in memory at once and no
database connection is held while the client reads. Amounts are exact major units with their
currency (never floats); timestamps are ISO 8601 with the offset of the merchant's timezone,
which the header names. On PostgreSQL the database writes each line; elsewhere Python does, to
the same bytes.

Progress: after every chunk the export records how many rows it has produced under an export
id the page chose (`ExportProgress`: in process, or in Redis when REDIS_URL is set so that any
worker can read it); the page polls it against the total it counted for the same snapshot.

Modules: transactions (the chunks), cells (Python's formatting of a line), read_ahead,
progress. Their public names are importable from this package.
"""

from paybridge.exports.cells import csv_header, major_units, safe_cell
from paybridge.exports.progress import (
    EXPORT_ID,
    PROGRESS_TTL,
    ExportProgress,
    Progress,
    export_stream,
)
from paybridge.exports.read_ahead import read_ahead
from paybridge.exports.transactions import BATCH_SIZE, transactions_csv

__all__ = [
    "BATCH_SIZE",
    "EXPORT_ID",
    "PROGRESS_TTL",
    "ExportProgress",
    "Progress",
    "csv_header",
    "export_stream",
    "major_units",
    "read_ahead",
    "safe_cell",
    "transactions_csv",
]
