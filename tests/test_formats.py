import pyarrow as pa
import pytest

from pairforge.errors import DataError
from pairforge.data.schemas import SOURCE_INDEX
from pairforge.data.formats import Normalise, conversation_pairs, detect_format, pair_id, row_to_messages, RowDrop
from pairforge.recipe import recipe_from_dict


def src(**kw):
    return recipe_from_dict({"source": {"path": "x.json", **kw}}).source


def test_detect_format_from_columns():
    assert detect_format(["instruction", "input", "output"], src()) == "alpaca"
    assert detect_format(["id", "conversations"], src()) == "sharegpt"
    assert detect_format(["messages"], src()) == "messages"
    assert detect_format(["question", "answer"], src()) == "plain"
    assert detect_format(["a", "b"], src(columns={"prompt": "a", "response": "b"})) == "plain"
    assert detect_format(["messages"], src(format="alpaca")) == "alpaca"
    with pytest.raises(DataError, match="cannot recognise the format"):
        detect_format(["foo", "bar"], src())


def test_alpaca_input_and_system_kept():
    msgs = row_to_messages({"instruction": "Sum these", "input": "1, 2", "output": "3", "system": "Be brief."}, "alpaca")
    assert msgs == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Sum these\n\n1, 2"},
                    {"role": "assistant", "content": "3"}]


def test_sharegpt_multiturn_last_and_each():
    row = {"conversations": [
        {"from": "system", "value": "S"}, {"from": "human", "value": "q1"}, {"from": "gpt", "value": "a1"},
        {"from": "human", "value": "q2"}, {"from": "gpt", "value": "a2"}]}
    msgs = row_to_messages(row, "sharegpt")
    [(turn, prompt, chosen)] = conversation_pairs(msgs, "last")
    assert turn == 1 and chosen == "a2"
    assert [m["content"] for m in prompt] == ["S", "q1", "a1", "q2"]
    each = conversation_pairs(msgs, "each")
    assert [(t, c, len(p)) for t, p, c in each] == [(0, "a1", 2), (1, "a2", 4)]
    assert each[0][1][0] == {"role": "system", "content": "S"}  # system kept in every pair


@pytest.mark.parametrize("row, fmt, reason", [
    ({"instruction": None, "output": "x"}, "alpaca", "null_prompt"),
    ({"instruction": "  ", "output": "x"}, "alpaca", "empty_prompt"),
    ({"instruction": "q", "output": 5}, "alpaca", "non_string_chosen"),
    ({"conversations": [{"from": "human", "value": "hi"}]}, "sharegpt", "no_assistant_turn"),
    ({"conversations": [{"from": "tool", "value": "hi"}]}, "sharegpt", "unsupported_role_tool"),
    ({"messages": []}, "messages", "empty_conversation"),
    ({"messages": [{"role": "assistant", "content": "a"}]}, "messages", "assistant_turn_not_after_user"),
    ({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": " "}]}, "messages", "empty_chosen"),
])
def test_bad_rows_are_dropped_with_a_reason(row, fmt, reason):
    with pytest.raises(RowDrop, match=f"^{reason}$"):
        conversation_pairs(row_to_messages(row, fmt), "last")


def test_normaliser_records_and_drops():
    table = pa.Table.from_pylist([
        {"instruction": "q1", "input": "", "output": "a1"},
        {"instruction": "q2", "input": None, "output": ""},
    ])
    table = table.append_column(SOURCE_INDEX, pa.array([10, 11], pa.int64()))
    kept, dropped = Normalise("alpaca", "last")(table)
    records, dropped = kept.to_pylist(), dropped.to_pylist()
    assert len(records) == 1 and records[0]["source_index"] == 10
    assert records[0]["id"] == pair_id(records[0]["prompt"], "a1")
    assert dropped[0]["source_index"] == 11 and dropped[0]["reason"] == "empty_chosen"


def test_plain_dotted_paths():
    msgs = row_to_messages({"instruction": "q", "instances": [{"input": "ctx", "output": "a"}]}, "plain",
                           {"prompt": "instruction", "input": "instances.0.input", "response": "instances.0.output",
                            "system": None})
    assert msgs[-2:] == [{"role": "user", "content": "q\n\nctx"}, {"role": "assistant", "content": "a"}]
