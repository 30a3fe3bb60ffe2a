"""Arrow schemas shared by the stages, and the helper that splits a table by drop reason."""

from __future__ import annotations

import functools


@functools.cache
def message_type():
    import pyarrow as pa

    return pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))


@functools.cache
def pair_schema():
    """Rows after normalisation: a prompt (messages) and the data's own answer."""
    import pyarrow as pa

    return pa.schema([
        ("id", pa.string()),
        ("source_index", pa.int64()),
        ("turn_index", pa.int32()),
        ("prompt", message_type()),
        ("chosen", pa.string()),
    ])


@functools.cache
def generated_schema():
    """Rows after generation (one per sample); drop_reason is set where generation refused the row."""
    import pyarrow as pa

    return pair_schema().append(pa.field("sample_index", pa.int32())).append(
        pa.field("rejected", pa.string())).append(
        pa.field("rejected_model", pa.string())).append(
        pa.field("rejected_finish_reason", pa.string())).append(
        pa.field("prompt_tokens", pa.int32())).append(
        pa.field("chosen_tokens", pa.int32())).append(
        pa.field("rejected_tokens", pa.int32())).append(
        pa.field("drop_reason", pa.string()))


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


def split_by_reason(table, reasons: list):
    """(kept rows, dropped rows with a `reason` column) for a reason per row (None = keep)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    mask = pa.array([r is None for r in reasons], pa.bool_())
    kept = table.filter(mask)
    dropped = table.filter(pc.invert(mask))
    dropped = dropped.append_column("reason", pa.array([r for r in reasons if r is not None], pa.string()))
    return kept, dropped
