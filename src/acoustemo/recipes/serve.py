"""``acoustemo serve``: a web demo of a trained model (Gradio), for audio or video uploads and recordings.

    acoustemo serve                                  # the shipped model on http://127.0.0.1:7860
    acoustemo serve --checkpoint runs/small/final --port 8000 --host 0.0.0.0

Upload or record audio, or upload a video; the page shows the clip-level emotions, the utterance timeline
(start, end, text and, with the evidence on, how much the answer relied on each utterance), the Figure-2-style
evidence figure of :mod:`acoustemo.explain`, and the whole result as a JSON download (the object that
``acoustemo predict --json --explain`` prints). The model, transcriber and encoders are loaded once; requests
wait in a queue and run one at a time. Files above ``--max-mb`` or longer than ``--max-seconds`` get a
message instead of a result, and so do files that cannot be decoded.

The server binds to 127.0.0.1 unless ``--host`` says otherwise, and sends nothing anywhere (Gradio's usage
analytics are switched off).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from ..config import add_device_argument, add_quantization_argument
from ..device import resolve_device
from ..errors import AcoustemoError, InputError, one_line

TIMELINE_HEADERS = ["start (s)", "end (s)", "text", "emotions", "evidence"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", default=None,
                   help="a trained model folder (config.yaml + trainable.safetensors); default: the shipped model")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--max-mb", type=float, default=50.0, help="largest upload in MB (default 50)")
    p.add_argument("--max-seconds", type=float, default=120.0, help="longest media in seconds (default 120)")
    p.add_argument("--queue-size", type=int, default=16, help="requests that may wait in the queue (default 16)")
    p.add_argument("--no-explain", action="store_true",
                   help="labels and timeline only: no evidence per utterance and no figure (about 3x faster)")
    p.add_argument("--whisper-model", default=None, help="Whisper model for transcription (default: bundled tiny.en)")
    p.add_argument("--beam-size", type=int, default=5,
                   help="transcription beam size (default 5; 1 is greedy, about twice as fast)")
    add_device_argument(p)
    add_quantization_argument(p)


@dataclass
class ServeResult:
    labels: str  # the clip-level emotions, comma-separated
    timeline: list[list]  # one row per utterance, TIMELINE_HEADERS
    figure: str | None  # PNG path
    json_path: str  # the JSON object of the result
    result: dict


class Service:
    """What the page calls, without the page: limits, prediction, and the files of a result.

    ``Service(predictor)(path)`` -> :class:`ServeResult`; a file over the limits or that cannot be decoded
    raises :class:`~acoustemo.errors.InputError` with a one-line message for the user. Calls are serialised
    (one model, one request at a time), whatever the web server does.
    """

    def __init__(self, predictor, *, max_mb: float = 50.0, max_seconds: float = 120.0, explain: bool = True,
                 out_dir: str | Path | None = None):
        if max_mb <= 0 or max_seconds <= 0:
            raise InputError(f"max_mb={max_mb}, max_seconds={max_seconds}: limits must be positive")
        self.predictor, self.max_mb, self.max_seconds, self.explain = predictor, max_mb, max_seconds, explain
        self.out_dir = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix="acoustemo-serve-"))
        self._lock = threading.Lock()
        self._count = 0

    def check(self, path: str | Path) -> Path:
        """The limits, before anything is decoded; returns the path."""
        from ..media import probe

        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path.name}: no such file")
        mb = path.stat().st_size / 1e6
        if mb > self.max_mb:
            raise InputError(f"{path.name}: {mb:.1f} MB is above this server's limit of {self.max_mb:g} MB")
        info = probe(path)  # MediaError (an InputError) for a file that is not media
        if not info.has_audio:
            raise InputError(f"{path.name}: no audio track; the model listens to speech")
        if info.duration is not None and info.duration > self.max_seconds:
            raise InputError(f"{path.name}: {info.duration:.1f} s is longer than this server's limit of "
                             f"{self.max_seconds:g} s")
        return path

    def __call__(self, path: str | Path) -> ServeResult:
        """The result for one upload; messages name the file, not where the server keeps it."""
        path = Path(path)
        try:
            return self._run(path)
        except AcoustemoError as e:
            raise InputError(str(e).replace(str(path), path.name)) from None

    def _run(self, path: Path) -> ServeResult:
        from ..inference.explain import plot_explanation
        from ..io import atomic_write_text

        path = self.check(path)
        with self._lock:
            self._count += 1
            folder = self.out_dir / f"{self._count:05d}"
            prediction = self.predictor(path, explain=self.explain)
            folder.mkdir(parents=True, exist_ok=True)
            if prediction.explanation is not None:
                prediction.figure = str(plot_explanation(path, prediction.utterances, prediction.emotions,
                                                         prediction.explanation, folder / "evidence.png"))
        result = prediction.to_json()
        result["media"] = path.name  # not the server's upload path
        if prediction.figure:
            result["figure"] = "evidence.png"
        json_path = folder / f"{path.stem}.acoustemo.json"
        atomic_write_text(json_path, json.dumps(result, ensure_ascii=False, indent=2) + "\n")
        timeline = [[round(u["start"], 2), round(u["end"], 2), u["text"], ", ".join(u.get("labels", [])),
                     round(u["evidence"], 2) if "evidence" in u else None] for u in result["utterances"]]
        return ServeResult(", ".join(prediction.emotions) or "(no emotion named)", timeline, prediction.figure,
                           str(json_path), result)


def build_app(service: Service, *, title: str = "AcoustEmo"):
    """The Gradio page over ``service`` (not launched)."""
    import gradio as gr

    def analyse(audio, video):
        path = audio or video
        if not path:
            raise gr.Error("Upload or record audio, or upload a video, first.")
        try:
            r = service(path)
        except AcoustemoError as e:
            raise gr.Error(one_line(str(e))) from None
        return r.labels, r.timeline, r.figure, r.json_path

    with gr.Blocks(title=title, analytics_enabled=False) as app:
        gr.Markdown(f"# {title}\nOpen-vocabulary emotions of speech, utterance by utterance. Upload or record "
                    "audio, or upload a video, then press **Analyse**. The evidence column says how much the "
                    "answer relied on each utterance's sound (higher: more).")
        with gr.Row():
            with gr.Column(scale=1):
                audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Audio",
                                 elem_id="audio")
                video = gr.Video(sources=["upload"], label="or a video", elem_id="video")
                button = gr.Button("Analyse", variant="primary", elem_id="analyse")
            with gr.Column(scale=2):
                labels = gr.Textbox(label="Emotions (whole clip)", elem_id="labels", interactive=False)
                timeline = gr.Dataframe(headers=TIMELINE_HEADERS, label="Utterances", elem_id="timeline",
                                        interactive=False, wrap=True)
                figure = gr.Image(label="Evidence", type="filepath", elem_id="figure", interactive=False)
                download = gr.File(label="Result (JSON)", elem_id="download", interactive=False)
        button.click(analyse, inputs=[audio, video], outputs=[labels, timeline, figure, download],
                     concurrency_limit=1)
    return app


def run(args) -> int:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from ..model.llm import check_quantization

    check_quantization(args.quantize, resolve_device(args.device))
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise InputError("acoustemo serve needs Gradio: pip install 'acoustemo[serve]' (or pip install gradio)") \
            from None
    from ..inference.predictor import Predictor

    if args.queue_size < 1:
        raise InputError(f"--queue-size {args.queue_size}: must be at least 1")
    checkpoint = args.checkpoint
    if checkpoint is None:
        from ..inference.pretrained import pretrained_path

        checkpoint = pretrained_path()
    predictor = Predictor(checkpoint, transcriber_model=args.whisper_model, beam_size=args.beam_size,
                          device=args.device, quantize=args.quantize)
    service = Service(predictor, max_mb=args.max_mb, max_seconds=args.max_seconds, explain=not args.no_explain)
    print(f"acoustemo serve: http://{args.host}:{args.port} (Ctrl-C stops)", file=sys.stderr, flush=True)
    launch(service, host=args.host, port=args.port, queue_size=args.queue_size)
    return 0


def launch(service: Service, *, host: str = "127.0.0.1", port: int = 7860, queue_size: int = 16,
           block: bool = True):
    """Build the page over ``service`` and serve it; ``block=False`` returns the running app (for tests:
    ``app.close()`` stops it)."""
    import gradio as gr

    system = ["ui-sans-serif", "system-ui", "sans-serif"]  # no web fonts: the page needs no network
    theme = gr.themes.Default(font=system, font_mono=["ui-monospace", "monospace"])
    app = build_app(service)
    app.queue(max_size=queue_size)
    app.launch(server_name=host, server_port=port, max_file_size=f"{service.max_mb:g}mb",
               allowed_paths=[str(service.out_dir)], show_error=True, quiet=True, share=False, ssr_mode=False,
               theme=theme, prevent_thread_lock=not block)
    return app
