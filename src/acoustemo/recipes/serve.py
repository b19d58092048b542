"""``acoustemo serve``: a web demo of a trained model (Gradio), for audio or video uploads and recordings.

    acoustemo serve                                  # the shipped model on http://127.0.0.1:7860
    acoustemo serve --checkpoint runs/small/final --port 8000 --host 0.0.0.0

Upload or record audio, or upload a video; the page shows the clip-level emotions, the utterance timeline
(start, end, text and, with the evidence on, how much the answer relied on each utterance), the Figure-2-style
evidence figure of :mod:`acoustemo.explain`, and the whole result as a JSON download (the object that
``acoustemo predict --json --explain`` prints). The model, transcriber and encoders are loaded once; requests
wait in a queue and run one at a time. Files above ``--max-mb`` or longer than ``--max-seconds`` get a
message instead of a result, and so do files that cannot be decoded.

A second tab listens to the microphone (Gradio streaming audio): the timeline grows by a row as each utterance
ends (:mod:`acoustemo.inference.stream`); at most ``--max-live`` such sessions run at once.

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
from ..inference.service import LIVE_HEADERS, TIMELINE_HEADERS, LiveSessions, Service, limit_malloc_arenas



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
    p.add_argument("--max-live", type=int, default=2,
                   help="microphone sessions at once (default 2; 0: no live tab); one more is refused with a message")
    p.add_argument("--beam-size", type=int, default=5,
                   help="transcription beam size (default 5; 1 is greedy, about twice as fast)")
    add_device_argument(p)
    add_quantization_argument(p)


def build_app(service: Service, *, title: str = "AcoustEmo", live: LiveSessions | None = None):
    """The Gradio page over ``service`` (not launched); with ``live``, a second tab listens to the microphone."""
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

    # Gradio's copies of the uploads older than an hour are deleted every hour: a long-running server's disk stays bounded
    with gr.Blocks(title=title, analytics_enabled=False, delete_cache=(3600, 3600)) as app:
        gr.Markdown(f"# {title}\nOpen-vocabulary emotions of speech, utterance by utterance.")
        with gr.Tab("Upload", id="upload-tab"):
            gr.Markdown("Upload or record audio, or upload a video, then press **Analyse**. The evidence column says "
                        "how much the answer relied on each utterance's sound (higher: more).")
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
                         concurrency_limit=1, api_name="analyse")
        if live is not None:
            _live_tab(gr, live)
    return app


def _live_tab(gr, live: LiveSessions) -> None:
    """The microphone tab: the timeline grows by a row as each utterance ends (acoustemo.inference.stream)."""

    def listen(chunk, session):
        if chunk is None:
            return session, gr.skip(), gr.skip()
        try:
            session = session or live.open()
            session.push(*chunk)
        except AcoustemoError as e:
            raise gr.Error(one_line(str(e))) from None
        if len(session.lines) == session.shown:
            return session, gr.skip(), gr.skip()
        session.shown = len(session.lines)
        return session, session.rows(), ", ".join(session.lines[-1].labels) or "?"

    def stop(session):
        if session is None:
            return None, gr.skip(), gr.skip()
        lines = session.finish()
        live.release(session)
        return None, session.rows(), (", ".join(lines[-1].labels) or "?") if lines else gr.skip()

    with gr.Tab("Live (microphone)", id="live-tab"):
        gr.Markdown("Press record and speak: each utterance gets its labels as soon as you pause, with what was "
                    "said before as context. Valence and arousal are derived from the label words.")
        # a plain function: Gradio deep-copies what a State holds, and a bound method would take the model along
        session = gr.State(None, delete_callback=lambda s: live.release(s))
        with gr.Row():
            with gr.Column(scale=1):
                mic = gr.Audio(sources=["microphone"], streaming=True, type="numpy", label="Microphone",
                               elem_id="live-audio")
                latest = gr.Textbox(label="Emotions (latest utterance)", elem_id="live-labels", interactive=False)
            with gr.Column(scale=2):
                rows = gr.Dataframe(headers=LIVE_HEADERS, label="Utterances so far", elem_id="live-timeline",
                                    interactive=False, wrap=True)
        mic.stream(listen, inputs=[mic, session], outputs=[session, rows, latest], stream_every=0.5,
                   concurrency_limit=live.max_live, show_progress="hidden")
        mic.stop_recording(stop, inputs=[session], outputs=[session, rows, latest])


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
    if args.max_live < 0:
        raise InputError(f"--max-live {args.max_live}: must be 0 (no live tab) or more")
    checkpoint = args.checkpoint
    if checkpoint is None:
        from ..inference.pretrained import pretrained_path

        checkpoint = pretrained_path()
    limit_malloc_arenas()  # before the model and the server's threads allocate
    predictor = Predictor(checkpoint, transcriber_model=args.whisper_model, beam_size=args.beam_size,
                          device=args.device, quantize=args.quantize, preload_transcriber=True)
    service = Service(predictor, max_mb=args.max_mb, max_seconds=args.max_seconds, explain=not args.no_explain)
    live = LiveSessions(service, max_live=args.max_live) if args.max_live > 0 else None
    print(f"acoustemo serve: http://{args.host}:{args.port} (Ctrl-C stops)", file=sys.stderr, flush=True)
    launch(service, host=args.host, port=args.port, queue_size=args.queue_size, live=live)
    return 0


def launch(service: Service, *, host: str = "127.0.0.1", port: int = 7860, queue_size: int = 16,
           block: bool = True, live: LiveSessions | None = None):
    """Build the page over ``service`` and serve it; ``block=False`` returns the running app (for tests:
    ``app.close()`` stops it)."""
    import gradio as gr

    system = ["ui-sans-serif", "system-ui", "sans-serif"]  # no web fonts: the page needs no network
    theme = gr.themes.Default(font=system, font_mono=["ui-monospace", "monospace"])
    app = build_app(service, live=live)
    app.queue(max_size=queue_size)
    app.launch(server_name=host, server_port=port, max_file_size=f"{service.max_mb:g}mb",
               allowed_paths=[str(service.out_dir)], show_error=True, quiet=True, share=False, ssr_mode=False,
               theme=theme, prevent_thread_lock=not block)
    return app
