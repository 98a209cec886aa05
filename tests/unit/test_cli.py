"""The command line (mcnn_bench.cli, mcnn_bench.commands): every command's --help documents each of its options,
and a user error exits with status 2 and one `mcnn-bench COMMAND: error: ...` message, no traceback. Real
processes (`python -m mcnn_bench`) for the whole path, started together; main() in this process for the rest
(the same parser and error mapping, a second per process saved). Nothing here trains."""

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from mcnn_bench.cli import build_parser, main

#: Every process started here gets this long; a --help or a refused command takes about a second.
TIMEOUT_SECONDS = 300

Parsers = dict[tuple[str, ...], argparse.ArgumentParser]


def commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Parsers:
    """Every command and group of ``parser``, by its words after ``mcnn-bench`` (the top level: ``()``)."""
    found = {path: parser}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.update(commands(sub, (*path, name)))
    return found


def documented(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """What a user gives (not -h, not a group's subcommand), by how --help shows it."""

    def shown(action: argparse.Action) -> str:
        if action.option_strings:
            return action.option_strings[0]
        return action.metavar or ("{" + ",".join(action.choices) + "}" if action.choices else action.dest)

    return {
        shown(action): action
        for action in parser._actions
        if not isinstance(action, (argparse._HelpAction, argparse._SubParsersAction))
    }


def run_all(argvs: list[list[str]], cwd: Path | None = None) -> list[subprocess.CompletedProcess]:
    """``python -m mcnn_bench ARGV`` for each of ``argvs``, started together; their ends, in order."""
    started = [
        subprocess.Popen(
            [sys.executable, "-m", "mcnn_bench", *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=cwd,
        )
        for argv in argvs
    ]
    done = []
    for argv, process in zip(argvs, started, strict=True):
        out, err = process.communicate(timeout=TIMEOUT_SECONDS)
        done.append(subprocess.CompletedProcess(argv, process.returncode, out, err))
    return done


PARSERS = commands(build_parser())


def test_every_command_is_reached():
    assert {path for path in PARSERS if len(path) == 1} == {
        ("train",),
        ("sweep",),
        ("status",),
        ("analyze",),
        ("report",),
        ("accept",),
        ("reference",),
        ("compare",),
        ("history",),
        ("devcluster",),
        ("allreduce",),
        ("peak",),
        ("predict",),
        ("paper-check",),
        ("bench",),
        ("record-schema",),
    }
    assert {path for path in PARSERS if len(path) == 2} == {
        ("reference", "capture"),
        ("history", "list"),
        ("history", "rebuild"),
        ("bench", "overhead"),
        ("bench", "analyze"),
        ("bench", "input"),
        ("bench", "gpu"),
    }


@pytest.mark.parametrize("path", list(PARSERS), ids=lambda path: " ".join(path) or "mcnn-bench")
def test_help_exits_0_and_documents_every_option(path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # one option a line, its name whole
    with pytest.raises(SystemExit) as exit_info:
        main([*path, "--help"])
    out, err = capsys.readouterr()
    assert exit_info.value.code == 0 and err == ""
    assert out.startswith(f"usage: {' '.join(('mcnn-bench', *path))} ")
    for name, action in documented(PARSERS[path]).items():
        assert action.help, f"{' '.join(path)} {name}: no help"
        assert name in out, f"{' '.join(path)} --help does not list {name}"
    for action in PARSERS[path]._actions:  # a group lists its subcommands
        if isinstance(action, argparse._SubParsersAction):
            assert all(name in out for name in action.choices)


def test_help_of_the_real_command():
    top, sweep = run_all([["--help"], ["sweep", "--help"]])
    assert top.returncode == 0 and all(f"\n    {path[0]}" in top.stdout for path in PARSERS if len(path) == 1)
    assert sweep.returncode == 0 and all(name in sweep.stdout for name in documented(PARSERS[("sweep",)]))


def test_reference_capture_help_says_where_the_file_goes_without_out(capsys):
    with pytest.raises(SystemExit):
        main(["reference", "capture", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "Without --out, the file is SYSTEM.toml (the --system name) in the current folder" in text
    assert "default: SYSTEM.toml in the current folder" in text


@pytest.fixture
def bad_reference(tmp_path) -> Path:
    path = tmp_path / "bad-reference.toml"
    path.write_text("system = 3\n")
    return path


def test_user_errors_of_the_real_command_exit_2_with_one_message_and_no_traceback(tmp_path, bad_reference):
    cases = [  # (the command, its arguments, what the message must name)
        ("sweep", [str(tmp_path / "no-such-spec.toml")], "no-such-spec.toml"),
        ("train", ["--data", "synthetic", "--image-size", "64", "64", "--epochs", "0"], "training.epochs"),
        ("accept", [str(tmp_path), "--reference", str(bad_reference)], "bad-reference.toml: invalid reference file"),
    ]
    for (command, _, named), done in zip(cases, run_all([[command, *args] for command, args, _ in cases]), strict=True):
        assert done.returncode == 2, (done.args, done.stdout, done.stderr)
        assert done.stderr.startswith(f"mcnn-bench {command}: error: ") and named in done.stderr, done.stderr
        assert "Traceback" not in done.stderr, done.stderr


@pytest.mark.parametrize(
    "command, args, named",
    [
        ("status", ["{tmp}/no-sweep"], "no-sweep"),  # a missing input (FileNotFoundError)
        ("analyze", ["{tmp}/no-results"], "no-results"),
        ("bench overhead", ["--batch-size", "0"], "local_batch_size"),  # a bad setting, as train's
        ("bench analyze", ["--records", "0"], "--records"),
        ("reference capture", ["{tmp}", "--system", "x", "--out", "{tmp}/x.toml"], "{tmp}"),
        ("peak", ["--inter-op-threads", "0"], "--inter-op-threads"),
        ("predict", ["--overlap", "2", "--bandwidth-gbits", "1"], "--overlap"),
        ("allreduce", ["--image-size", "100", "64"], "multiple of 64"),
        ("compare", ["{tmp}/a", "{tmp}/b"], "{tmp}/a is not a folder"),
        ("history list", ["{tmp}"], "{tmp}/history.sqlite: no history yet"),
        ("history rebuild", ["{tmp}/no-results"], "no-results"),
    ],
)
def test_user_errors_exit_2_naming_what_is_wrong(tmp_path, capsys, command, args, named):
    argv = [*command.split(), *(arg.format(tmp=tmp_path) for arg in args)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"mcnn-bench {command}: error: ") and named.format(tmp=tmp_path) in err
    assert not (tmp_path / "x.toml").exists()  # a refused capture writes nothing


def test_argparse_errors_take_the_same_form_and_status(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["predict", "--overlap", "abc"])
    assert exit_info.value.code == 2
    assert "mcnn-bench predict: error: argument --overlap: invalid float value: 'abc'" in capsys.readouterr().err


def test_status_and_analyze_never_load_tensorflow(tmp_path):
    script = (
        "import sys\nfrom mcnn_bench.cli import main\n"
        f"codes = main(['status', {str(tmp_path)!r}]), main(['analyze', {str(tmp_path)!r}])\n"
        "print(*codes, any(m.split('.')[0] in ('tensorflow', 'keras', 'horovod') for m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=TIMEOUT_SECONDS)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["2", "2", "False"], done.stdout + done.stderr
