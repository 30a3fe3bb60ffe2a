"""Arrow schemas of the rows that flow through the pipeline."""

from __future__ import annotations

import functools

SOURCE_INDEX = "__pairforge_source_index"  # the source row number, carried beside a raw SFT batch
# A JSON source's batch: each row's own JSON text (types as written), or, for a line that could
# not be read (on_bad_lines: skip), null with the reason and where it was.
ROW_JSON = "__pairforge_row_json"
ROW_BAD = "__pairforge_row_bad"
ROW_DETAIL = "__pairforge_row_detail"
# With a function judge (judge.kind: function): the source row as JSON, carried beside each pair so
# the function gets the source's columns as keyword arguments. Never published.
SOURCE_COLUMNS = "source_columns"


@functools.cache
def message_type():
    import pyarrow as pa

    return pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))


@functools.cache
def pair_schema(source_columns: bool = False):
    """Rows after normalisation: a prompt (messages) and the data's own answer (and, for a function
    judge, the source row as JSON)."""
    import pyarrow as pa

    return pa.schema([
        ("id", pa.string()),
        ("source_index", pa.int64()),
        ("turn_index", pa.int32()),
        ("prompt", message_type()),
        ("chosen", pa.string()),
    ] + ([(SOURCE_COLUMNS, pa.string())] if source_columns else []))


@functools.cache
def generated_schema(source_columns: bool = False):
    """Rows after generation: one per weak-model sample."""
    import pyarrow as pa

    return pa.schema(list(pair_schema(source_columns)) + [
        pa.field("sample_index", pa.int32()),
        pa.field("rejected", pa.string()),
        pa.field("rejected_model", pa.string()),
        pa.field("rejected_finish_reason", pa.string()),
        pa.field("prompt_tokens", pa.int32()),
        pa.field("chosen_tokens", pa.int32()),
        pa.field("rejected_tokens", pa.int32()),
    ])


@functools.cache
def excluded_schema():
    import pyarrow as pa

    return pa.schema([
        ("stage", pa.string()),
        ("reason", pa.string()),
        ("id", pa.string()),
        ("source_index", pa.int64()),
        ("detail", pa.string()),
    ])
