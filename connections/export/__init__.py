"""The CSV export: ``cells`` (the header, the cells and the formula guard), ``seen`` (the
de-duplication in fixed memory), ``progress`` (progress, cancel and the per-user limit in
the cache) and ``stream`` (the streamed download). The views use the names below."""

from connections.export.cells import (
    HEADER,
    Columns,
    cells,
    columns,
    csv_chunk,
    csv_columns,
    safe_cell,
)
from connections.export.progress import (
    export_id_free,
    forget_export,
    mark_refused,
    mark_requested,
    progress_of,
    recent_exports,
    request_cancel,
    valid_export_id,
)
from connections.export.seen import SeenIds
from connections.export.stream import (
    PAGE,
    Export,
    ExportAborted,
    ExportCancelled,
    ExportRefused,
    ExportStream,
    export_check,
    start_export,
)

__all__ = [
    "HEADER",
    "PAGE",
    "Columns",
    "Export",
    "ExportAborted",
    "ExportCancelled",
    "ExportRefused",
    "ExportStream",
    "SeenIds",
    "cells",
    "columns",
    "csv_chunk",
    "csv_columns",
    "export_check",
    "export_id_free",
    "forget_export",
    "mark_refused",
    "mark_requested",
    "progress_of",
    "recent_exports",
    "request_cancel",
    "safe_cell",
    "start_export",
    "valid_export_id",
]
