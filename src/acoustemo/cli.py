"""The ``acoustemo`` command: one entry point, one module per subcommand.

Each subcommand lives in its own module exposing ``add_arguments(parser)`` and ``run(args) -> int``;
the module is imported only when its subcommand runs, so ``acoustemo score`` never imports torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__
from .errors import AcoustemoError

# subcommand -> (module, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("acoustemo.recipes.demo", "run the model end to end on the embedded default (offline)"),
    "info": ("acoustemo.recipes.info", "show a preset's resolved config, parameter counts and memory estimate"),
    "score": ("acoustemo.metrics.cli", "score open-vocabulary predictions (Accuracy_s/Recall_s, emotion wheels)"),
    "transcribe": ("acoustemo.asr.cli", "transcribe media into timestamped utterances"),
    "extract": ("acoustemo.cache.cli", "run the frozen encoders once per media file into a feature cache"),
    "synth": ("acoustemo.corpora.synth_cli", "generate synthetic micro-prosody dialogues"),
    "import-mer": ("acoustemo.data.mer_import", "turn MER / EMER label and subtitle CSVs into a manifest"),
    "merge": ("acoustemo.data.merge", "merge several manifests into one (ids prefixed by corpus)"),
    "corpus": ("acoustemo.corpora.cli", "build dialogue corpora from RAVDESS or EmoDB folders"),
    "train": ("acoustemo.recipes.train", "train AcoustEmo on a manifest and its feature cache"),
    "evaluate": ("acoustemo.recipes.evaluate", "generate open-vocabulary labels for a manifest and score them"),
    "predict": ("acoustemo.recipes.predict", "run a trained model on new video or audio files"),
    "ablate": ("acoustemo.recipes.ablate", "train and evaluate the ablations of Table 2 over several seeds"),
}


def _top_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
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
    if not argv or argv[0].startswith("-") or argv[0] not in SUBCOMMANDS:
        _top_parser().parse_args(argv[:1] or ["--help"])
        return 2
    name, rest = argv[0], argv[1:]
    module_name, help_text = SUBCOMMANDS[name]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"acoustemo {name}", description=help_text)
    module.add_arguments(parser)
    args = parser.parse_args(rest)
    try:
        return int(module.run(args) or 0)
    except AcoustemoError as e:
        print(f"acoustemo {name}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"acoustemo {name}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
