"""Parsing of label lists and reading of label / grouping files."""

import json

import pytest

from acoustemo.errors import InputError
from acoustemo.metrics.labels import parse_labels, read_grouping, read_labels


@pytest.mark.parametrize(
    "text, expected",
    [
        ("['happy', 'relieved']", ["happy", "relieved"]),
        ('["happy","relieved"]', ["happy", "relieved"]),
        ("[happy, relieved]", ["happy", "relieved"]),
        ("happy, relieved", ["happy", "relieved"]),
        ("Happy，Relieved", ["happy", "relieved"]),  # full-width comma, case
        ("  [ ' HAPPY ' ,  relieved ]  ", ["happy", "relieved"]),
        ("[]", []),
        ("", []),
        ("   ", []),
        ("['a', '', 'b']", ["a", "b"]),
        ("""["don't believe", 'doubt']""", ["don't believe", "doubt"]),  # apostrophe inside quotes
        ("[], ['confused']", ["confused"]),  # several lists in one cell
        ("[],focused,attentive", ["focused", "attentive"]),
        ("‘calm’, “tense”", ["calm", "tense"]),
        ("worried; anxious", ["worried", "anxious"]),
    ],
)
def test_parse_labels_accepts_what_peers_write(text, expected):
    assert parse_labels(text) == expected


def test_parse_labels_on_lists_and_none():
    assert parse_labels([" Happy", "SAD ", ""]) == ["happy", "sad"]
    assert parse_labels(None) == []
    with pytest.raises(ValueError, match="not a string"):
        parse_labels(["a", 3])


@pytest.mark.parametrize("text", ["['a', 'b'", "a, b]", "[[a]]", "x [a]", "'a, b", "['a', \"b]"])
def test_parse_labels_rejects_malformed(text):
    with pytest.raises(ValueError):
        parse_labels(text)


def test_read_csv_and_jsonl_agree(tmp_path):
    csv_path = tmp_path / "p.csv"
    csv_path.write_text("name,openset,extra\ns1,\"['Happy', 'sad']\",x\ns2,[]\n", encoding="utf-8")
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text(
        json.dumps({"name": "s1", "openset": ["Happy", "sad"]}) + "\n\n" + json.dumps({"name": "s2", "openset": "[]"}) + "\n"
    )
    manifest = tmp_path / "m.jsonl"  # the project's manifest: id + labels
    manifest.write_text(
        json.dumps({"id": "s1", "media": "a.wav", "labels": ["happy", "sad"]}) + "\n"
        + json.dumps({"id": "s2", "media": "b.wav", "labels": []}) + "\n"
    )
    expected = {"s1": ["happy", "sad"], "s2": []}
    assert read_labels(csv_path) == expected
    assert read_labels(jsonl) == expected
    assert read_labels(manifest) == expected


def _error(tmp_path, text, name="g.csv", **kwargs):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as info:
        read_labels(path, **kwargs)
    return str(info.value)


def test_bad_files_name_file_row_and_column(tmp_path):
    msg = _error(tmp_path, "name,labels\ns1,[a]\n")
    assert "g.csv" in msg and "row 1" in msg and "'openset'" in msg and "missing column" in msg
    msg = _error(tmp_path, "name,openset\ns1,[a]\ns2,[b]\ns1,[c]\n")
    assert "row 4" in msg and "'name'" in msg and "duplicate" in msg and "'s1'" in msg
    msg = _error(tmp_path, "name,openset\ns1,[a]\ns2,\"['a', 'b'\"\n")
    assert "row 3" in msg and "'openset'" in msg and "unbalanced" in msg
    msg = _error(tmp_path, "name,openset\ns1,[]\ns2,\n", gold=True)
    assert "g.csv" in msg and "no labels" in msg
    msg = _error(tmp_path, '{"name": "s1", "openset": ["a"]}\n{"name": "s2"}\n', name="p.jsonl")
    assert "p.jsonl" in msg and "row 2" in msg and "'openset'" in msg
    with pytest.raises(InputError, match="missing.csv: file not found"):
        read_labels(tmp_path / "missing.csv")


def test_read_grouping(tmp_path):
    path = tmp_path / "g.json"
    path.write_text(json.dumps({"s1": [["Happy", "glad"], ["sad"]]}))
    assert read_grouping(path) == {"s1": [["happy", "glad"], ["sad"]]}
    path.write_text(json.dumps({"s1": ["happy"]}))
    with pytest.raises(InputError, match="sample 's1'"):
        read_grouping(path)
