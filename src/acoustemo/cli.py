"""The ``acoustemo`` command: one entry point, one module per subcommand.

Each subcommand lives in its own module exposing ``add_arguments(parser)`` and ``run(args) -> int``;
the module is imported only when its subcommand runs, so ``acoustemo score`` never imports torch.

Every command ends in one of: success (exit 0); one line ``acoustemo CMD: error: ...`` naming the file, the
sample and the field (exit 2), also for errors nobody foresaw (``--debug`` or ``ACOUSTEMO_DEBUG=1`` adds the
traceback); or ``acoustemo CMD: interrupted`` (exit 130). Warnings from libraries are one line each, once.
Commands print their own results and progress only: the progress bars of Hugging Face libraries (weights
loading, downloads) are off unless ``--verbose`` is given.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
import traceback
import warnings

from . import __version__
from .errors import AcoustemoError, one_line

# subcommand -> (module, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("acoustemo.recipes.demo", "run the model end to end on the embedded default (offline)"),
    "info": ("acoustemo.recipes.info", "show a preset's resolved config, parameter counts and memory estimate"),
    "score": ("acoustemo.recipes.score", "score open-vocabulary predictions (Accuracy_s/Recall_s, emotion wheels)"),
    "transcribe": ("acoustemo.recipes.transcribe", "transcribe media into timestamped utterances"),
    "extract": ("acoustemo.recipes.extract", "run the frozen encoders once per media file into a feature cache"),
    "synth": ("acoustemo.recipes.synth", "generate synthetic micro-prosody dialogues"),
    "import-mer": ("acoustemo.recipes.import_mer", "turn MER / EMER label and subtitle CSVs into a manifest"),
    "augment": ("acoustemo.recipes.augment", "noisy, quiet, band-limited and reverberant copies of training audio"),
    "merge": ("acoustemo.recipes.merge", "merge several manifests into one (ids prefixed by corpus)"),
    "corpus": ("acoustemo.recipes.corpus", "build dialogue corpora from RAVDESS or EmoDB folders"),
    "train": ("acoustemo.recipes.train", "train AcoustEmo on a manifest and its feature cache"),
    "evaluate": ("acoustemo.recipes.evaluate", "generate open-vocabulary labels for a manifest and score them"),
    "predict": ("acoustemo.recipes.predict", "run a trained model on new video or audio files"),
    "stream": ("acoustemo.recipes.stream", "label each utterance of a live stream, file or microphone as it ends"),
    "snr": ("acoustemo.recipes.snr", "score models as pink background noise grows (SNR sweep, section 4.6)"),
    "serve": ("acoustemo.recipes.serve", "a web demo of a trained model: upload or record, see the timeline"),
    "ablate": ("acoustemo.recipes.ablate", "train and evaluate the ablations of Table 2 over several seeds"),
}


class _Parser(argparse.ArgumentParser):
    """Usage errors on one line too (``--help`` shows the usage)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {one_line(message)} (see --help)\n")


def _top_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="acoustemo",
        description="AcoustEmo: open-vocabulary emotion reasoning with utterance-aware acoustic Q-Formers.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="commands:\n" + "\n".join(f"  {k:<11} {h}" for k, (_, h) in SUBCOMMANDS.items())
        + "\n\nRun 'acoustemo COMMAND --help' for a command's options.",
    )
    p.add_argument("--version", action="version", version=f"acoustemo {__version__}")
    p.add_argument("command", choices=sorted(SUBCOMMANDS), metavar="COMMAND")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or os.environ.get("ACOUSTEMO_DEBUG", "") not in ("", "0")
    verbose = "--verbose" in argv
    argv = [a for a in argv if a not in ("--debug", "--verbose")]
    if not verbose:  # read by huggingface_hub and transformers when they are first imported
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if not argv or argv[0].startswith("-") or argv[0] not in SUBCOMMANDS:
        _top_parser().parse_args(argv[:1] or ["--help"])
        return 2
    name, rest = argv[0], argv[1:]
    for i, arg in enumerate(rest, 1):
        if "\x00" in arg:
            print(f"acoustemo {name}: error: argument {i} contains a NUL character", file=sys.stderr)
            return 2
    try:
        with _one_line_warnings(name):
            module_name, help_text = SUBCOMMANDS[name]
            module = importlib.import_module(module_name)
            parser = _Parser(prog=f"acoustemo {name}", description=help_text)
            module.add_arguments(parser)
            parser.add_argument("--debug", action="store_true", help="show the traceback of unexpected errors")
            parser.add_argument("--verbose", action="store_true",
                                help="also show the progress bars of the libraries underneath")
            args = parser.parse_args(rest)
            return int(module.run(args) or 0)
    except AcoustemoError as e:
        _print_error(name, str(e), debug)
        return 2
    except KeyboardInterrupt:
        print(f"\nacoustemo {name}: interrupted", file=sys.stderr)
        return 130
    except SystemExit as e:  # argparse (usage errors, --help) and sys.exit() inside a command
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    except Exception as e:  # noqa: BLE001 - the boundary: whatever escaped becomes one line
        hint = "" if debug else " (--debug or ACOUSTEMO_DEBUG=1 shows the traceback)"
        _print_error(name, one_line(describe(e), 400) + hint, debug)
        return 2


def describe(e: BaseException) -> str:
    """One line for an exception nobody turned into an :class:`AcoustemoError`: the file it concerns first."""
    if isinstance(e, OSError) and e.filename is not None:
        return f"{e.filename}: {e.strerror or type(e).__name__}"
    if isinstance(e, RecursionError):
        return "input nested too deeply to read"
    if isinstance(e, MemoryError):
        return "out of memory"
    text = str(e)
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _print_error(name: str, message: str, debug: bool) -> None:
    if debug:
        traceback.print_exc()
    print(f"acoustemo {name}: error: {one_line(message)}", file=sys.stderr)


@contextlib.contextmanager
def _one_line_warnings(name: str):
    """Warnings as ``acoustemo CMD: warning: ...``, once each, without the library's source line."""
    seen: set[str] = set()

    def show(message, category, filename, lineno, file=None, line=None):
        text = one_line(str(message), 300)
        if text not in seen:
            seen.add(text)
            print(f"acoustemo {name}: warning: {text}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


if __name__ == "__main__":
    sys.exit(main())
