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
import os
import sys

from ..config import add_device_argument, add_quantization_argument
from ..device import resolve_device
from ..errors import AcoustemoError, InputError, one_line
from ..inference.service import TIMELINE_HEADERS, Service



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
