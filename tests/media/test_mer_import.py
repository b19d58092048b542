from pathlib import Path

import pytest

from acoustemo.data.manifest import read_manifest
from acoustemo.cli import main
from acoustemo.data.mer_import import import_mer, parse_openset
from acoustemo.errors import InputError

FIX = Path(__file__).parents[1] / "fixtures"


def test_parse_openset_forms():
    assert parse_openset("['Happy', 'excited ', 'happy']") == ["happy", "excited"]
    assert parse_openset("worried, anxious") == ["worried", "anxious"]
    assert parse_openset("[]") == []
    assert parse_openset("[\"don't know, really\", 'sad']") == ["don't know, really", "sad"]
    assert parse_openset("happy、sad") == ["happy", "sad"]
    with pytest.raises(ValueError):
        parse_openset("['happy', 'sad'")


def _layout(tmp_path):
    media = tmp_path / "video"
    media.mkdir()
    for name, src in (("sample_00000001", "ravdess/audio/Actor_01/03-01-01-01-01-01-01.flac"),
                      ("sample_00000002", "emodb/audio/03a01Fa.flac")):
        (media / f"{name}.flac").write_bytes((FIX / src).read_bytes())
    (tmp_path / "labels.csv").write_text(
        "name,openset\nsample_00000001,\"['calm', 'neutral']\"\nsample_00000002,\"['happy', 'excited']\"\n")
    (tmp_path / "subtitle_chieng.csv").write_text(
        "name,chinese,english\nsample_00000001,孩子们在门边说话,Kids are talking by the door.\n"
        "sample_00000002,抹布,The rag lies on the fridge.\n")
    return media


def test_import_writes_a_valid_manifest(tmp_path):
    media = _layout(tmp_path)
    out = tmp_path / "mer.jsonl"
    samples = import_mer(tmp_path / "labels.csv", media, out, subtitles_csv=tmp_path / "subtitle_chieng.csv")
    assert [s.id for s in samples] == ["sample_00000001", "sample_00000002"]
    back = read_manifest(out, check_media=True)
    assert back[0].media == "video/sample_00000001.flac" and back[1].labels == ["happy", "excited"]
    u = back[0].utterances[0]
    assert u.start == 0.0 and 3.2 < u.end < 3.4 and u.text == "Kids are talking by the door."


def test_import_reports_every_problem_with_row_and_field(tmp_path):
    media = _layout(tmp_path)
    (tmp_path / "labels.csv").write_text(
        "name,openset\nsample_00000001,[]\nmissing_one,happy\nsample_00000002,sad\nsample_00000002,sad\n")
    with pytest.raises(InputError) as e:
        import_mer(tmp_path / "labels.csv", media, tmp_path / "out.jsonl", subtitles_csv=tmp_path / "subtitle_chieng.csv")
    problems = e.value.problems
    assert len(problems) == 3
    assert "row 2" in problems[0] and "'sample_00000001'" in problems[0] and "'openset'" in problems[0]
    assert "row 3" in problems[1] and "'missing_one'" in problems[1] and "'media'" in problems[1]
    assert "row 5" in problems[2] and "duplicate of row 4" in problems[2]
    assert not (tmp_path / "out.jsonl").exists()
    assert main(["import-mer", "--labels", str(tmp_path / "labels.csv"), "--media", str(media), "--output", str(tmp_path / "o.jsonl")]) == 2
