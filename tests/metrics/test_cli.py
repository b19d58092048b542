"""``acoustemo score``: output formats, warnings and bad input (one line, exit 2, no traceback)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from acoustemo.cli import main
from acoustemo.metrics.scores import wheel_metric_names

EMER = Path(__file__).resolve().parents[1] / "fixtures" / "emer"
GOLD, PRED, GROUPING = EMER / "check-openset.csv", EMER / "predict-openset.csv", EMER / "openset-synonym.json"


def test_grouping_table_and_json(capsys):
    assert main(["score", "--gold", str(GOLD), "--pred", str(PRED), "--grouping", str(GROUPING)]) == 0
    out = capsys.readouterr().out
    assert "Accuracy_s   58.18" in out and "Recall_s     49.78" in out and "Avg          53.98" in out
    assert main(["score", "--gold", str(GOLD), "--pred", str(PRED), "--grouping", str(GROUPING), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"accuracy_s", "recall_s", "avg", "num_samples"}
    assert round(result["accuracy_s"], 2) == 58.18 and result["num_samples"] == 332


def test_wheel_json_keys(capsys):
    assert main(["score", "--gold", str(GOLD), "--pred", str(PRED), "--metric", "wheel", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == set(wheel_metric_names()) | {"M-avg", "num_samples"}
    assert result["M-avg"] == pytest.approx(sum(result[m] for m in wheel_metric_names()) / 12, abs=1e-3)


def test_missing_predictions_warn_once_with_count(tmp_path, capsys):
    pred = tmp_path / "pred.csv"
    lines = GOLD.read_text().splitlines()
    pred.write_text("\n".join(lines[:-10]) + "\n")  # the last 10 samples have no prediction
    assert main(["score", "--gold", str(GOLD), "--pred", str(pred), "--metric", "wheel"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "warning: 10 of 332 gold samples have no prediction" in err[0]


def _run(*argv):
    proc = subprocess.run([sys.executable, "-m", "acoustemo.cli", "score", *map(str, argv)], capture_output=True, text=True)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda d: (d / "nope.csv", PRED), ["nope.csv", "not found"]),
        (lambda d: (_write(d / "g.csv", "name,labels\na,[x]\n"), PRED), ["g.csv", "row 1", "'openset'"]),
        (lambda d: (GOLD, _write(d / "p.csv", "name,openset\na,[x]\na,[y]\n")), ["p.csv", "row 3", "'name'", "duplicate"]),
        (lambda d: (GOLD, _write(d / "p.csv", "name,openset\na,\"['x', 'y'\"\n")), ["p.csv", "row 2", "'openset'"]),
        (lambda d: (_write(d / "g.csv", "name,openset\na,[]\nb,\n"), PRED), ["g.csv", "no labels"]),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path, make, expected):
    gold, pred = make(tmp_path)
    code, out, err = _run("--gold", gold, "--pred", pred, "--metric", "wheel")
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    for word in expected:
        assert word in lines[0]


def test_grouping_mode_needs_a_grouping_file():
    code, _, err = _run("--gold", GOLD, "--pred", PRED, "--metric", "grouping")
    assert code == 2 and "--grouping" in err and "Traceback" not in err


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_score_command_does_not_import_torch():
    code = "import sys, acoustemo.metrics, acoustemo.recipes.score; print('torch' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "False"
