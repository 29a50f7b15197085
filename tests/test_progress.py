import io

import pytest

from eiegen.progress import ProgressBar


class Terminal(io.StringIO):
    def isatty(self):
        return True


def run(bar, total):
    for done in range(total + 1):
        bar(done, total)


def test_log_file_gets_one_line_per_tenth():
    out = io.StringIO()  # not a terminal: no \r, bounded lines whatever the count
    run(ProgressBar("digits", stream=out), 599)
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert [line.split("%")[0].strip() for line in lines] == [str(p) for p in range(0, 101, 10)]
    assert lines[-1].startswith("100% 599/599 digits (")


def test_few_inputs_print_each_step_once():
    out = io.StringIO()
    run(ProgressBar(stream=out), 3)
    assert [line.split()[1] for line in out.getvalue().splitlines()] == ["0/3", "1/3", "2/3",
                                                                          "3/3"]


def test_terminal_redraws_in_place():
    out = Terminal()
    run(ProgressBar(stream=out), 4)
    text = out.getvalue()
    assert text.count("\r") == 5 and text.endswith("\n") and text.count("\n") == 1
    assert "[" + "#" * 30 + "] 4/4 inputs" in text


def test_stderr_by_default(capsys):
    ProgressBar("inputs", steps=2)(1, 1)
    assert capsys.readouterr().err.startswith("100% 1/1 inputs")  # capsys is no terminal


def test_bad_steps():
    with pytest.raises(ValueError, match="steps must be at least 1, got 0"):
        ProgressBar(steps=0)


def test_eta_shows_the_time_left():
    out = Terminal()
    bar = ProgressBar("points", stream=out, eta=True)
    bar.start = 0.0  # as if started long ago: a finite rate
    bar(5, 10)
    assert " eta " in out.getvalue()
    bar(10, 10)
    assert out.getvalue().rstrip().endswith("/s)")  # nothing left: no eta
