"""scripts/compare_evals.py: model rows of several release_eval.py outputs side by side."""

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "compare_evals.py"
MODEL, PROBE = "AcoustEmo (this model)", "(b) Whisper mean+std probe (logistic regression)"


def _eval_file(path: Path, primary: float, found: float | None) -> Path:
    rows = {MODEL: {"primary": primary, "M-avg": 40.0, "distinct_lists": 9}, PROBE: {"primary": 52.5}}
    sets = {"ravdess-dialogues": {"rows": rows}}
    if found is not None:
        sets["ravdess-dialogues"]["per_utterance"] = {MODEL: {"primary": 60.0, "emotional utterance found": found}}
    path.write_text(json.dumps({"sets": sets}))
    return path


def _run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True)


def test_columns_follow_the_files_and_missing_scores_are_dashes(tmp_path):
    a = _eval_file(tmp_path / "a.json", 47.5, 82.3)
    b = _eval_file(tmp_path / "b.json", 64.25, None)
    out = _run(a, b, "--names", "shipped,new")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "| set | score | shipped | new | (b) probe |"
    assert "| ravdess-dialogues | primary-emotion acc. | 47.5 | 64.2 | 52.5 |" in lines
    assert "| ravdess-dialogues | emotional utterance found | 82.3 | – | – |" in lines
    assert not any("and alone" in line for line in lines)  # in no file: no row


def test_a_file_that_is_not_an_evaluation_is_named_with_exit_status_2(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    out = _run(bad)
    assert out.returncode == 2 and str(bad) in out.stderr and out.stderr.count("\n") == 1
    assert _run(bad, "--names", "x,y").returncode == 2  # argparse: names and files disagree


def _predictions(path: Path, hits: list[bool]) -> Path:
    lines = [json.dumps({"set": "ravdess-single", "id": f"c{i}", "gold": ["sad"], "gold_category": "sad",
                         MODEL: {"labels": ["sad" if h else "happy"], "category": "sad" if h else "happy"}})
             for i, h in enumerate(hits)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_paired_compares_two_prediction_files_sample_by_sample(tmp_path):
    a = _predictions(tmp_path / "a.jsonl", [True] * 10 + [False] * 10)
    b = _predictions(tmp_path / "b.jsonl", [True] * 18 + [False] * 2)  # b gets 8 more right, loses none
    out = _run("--paired", a, b, "--names", "A,B")
    assert out.returncode == 0, out.stderr
    row = [line for line in out.stdout.splitlines() if line.startswith("| ravdess-single")][0]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[:4] == ["ravdess-single", "20", "50.0", "90.0"] and cells[4].startswith("+40.0 [")
    assert cells[5] == "0 / 8" and cells[6] == "0.01"  # exact McNemar: 2 * 0.5 ** 8 = 0.0078
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"set": "x"}\n')
    out = _run("--paired", a, bad)
    assert out.returncode == 2 and f"{bad}, line 1" in out.stderr
    assert _run(a, "--paired", a, b).returncode == 2  # one mode at a time


def test_files_sharing_a_name_are_seeds_shown_as_mean_and_std(tmp_path):
    files = [_eval_file(tmp_path / f"{n}.json", p, f) for n, p, f in
             (("a0", 50.0, 60.0), ("a1", 54.0, 70.0), ("a2", 52.0, None), ("b0", 45.0, 30.0))]
    out = _run(*files, "--names", "Full,Full,Full,w/o")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "| set | score | Full (mean ± std, 3) | w/o | (b) probe |"
    assert "| ravdess-dialogues | primary-emotion acc. | 52.0 ± 2.0 | 45.0 | 52.5 |" in lines
    assert "| ravdess-dialogues | distinct label lists | 9.0 ± 0.0 | 9 | – |" in lines
    # a score that one seed lacks is averaged over the others, and the cell says so
    assert "| ravdess-dialogues | emotional utterance found | 65.0 ± 7.1 (2 of 3) | 30.0 | – |" in lines


def test_paired_breakdown_adds_a_row_per_value_of_a_field(tmp_path):
    a = _predictions(tmp_path / "a.jsonl", [True] * 4 + [False] * 4)
    b = _predictions(tmp_path / "b.jsonl", [False] * 4 + [True] * 4)
    cues = tmp_path / "cues.jsonl"  # c0-c3 local, c4-c5 distractor; c6, c7 not named: only in the set's row
    cues.write_text("".join(json.dumps({"id": f"c{i}", "design": d}) + "\n"
                            for i, d in enumerate(["local"] * 4 + ["distractor"] * 2)))
    out = _run("--paired", a, b, "--names", "A,B", "--breakdown", f"{cues}:design")
    assert out.returncode == 0, out.stderr
    rows = {c[0]: c[1:4] for c in ([x.strip() for x in line.strip("|").split("|")]
                                  for line in out.stdout.splitlines()[2:])}
    assert rows == {"ravdess-single": ["8", "50.0", "50.0"], "ravdess-single [design=distractor]": ["2", "0.0", "100.0"],
                    "ravdess-single [design=local]": ["4", "100.0", "0.0"]}
    cues.write_text('{"id": "c0"}\n')
    out = _run("--paired", a, b, "--breakdown", f"{cues}:design")
    assert out.returncode == 2 and f"{cues}:1" in out.stderr and out.stderr.count("\n") == 1
    assert _run(a, "--breakdown", f"{cues}:design").returncode == 2  # --breakdown goes with --paired


def test_same_file_names_without_names_stay_separate_columns(tmp_path):
    (tmp_path / "shipped").mkdir(), (tmp_path / "mine").mkdir()
    a = _eval_file(tmp_path / "shipped" / "eval.json", 50.0, None)
    b = _eval_file(tmp_path / "mine" / "eval.json", 60.0, None)
    out = _run(a, b)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == f"| set | score | {a} | {b} | (b) probe |"  # not one averaged column
    assert "| ravdess-dialogues | primary-emotion acc. | 50.0 | 60.0 | 52.5 |" in out.stdout
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]")
    out = _run(listed)
    assert out.returncode == 2 and str(listed) in out.stderr and out.stderr.count("\n") == 1


def test_paired_breakdown_that_names_no_sample_is_an_error(tmp_path):
    a = _predictions(tmp_path / "a.jsonl", [True, False])
    cues = tmp_path / "cues.jsonl"
    cues.write_text('{"id": "other", "design": "local"}\n')
    out = _run("--paired", a, a, "--breakdown", f"{cues}:design")
    assert out.returncode == 2 and "none of its ids" in out.stderr and out.stderr.count("\n") == 1
