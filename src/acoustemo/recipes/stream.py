"""``acoustemo stream``: each utterance labelled as soon as it is spoken (:mod:`acoustemo.inference.stream`).

    acoustemo stream talk.wav --realtime          # a file played at its own pace
    acoustemo stream rtsp://camera/live           # anything FFmpeg opens
    ffmpeg -i in.mp4 -f wav - | acoustemo stream -
    arecord -f S16_LE -r 16000 | acoustemo stream - --pcm 16000
    acoustemo stream --mic                        # needs sounddevice and PortAudio

Standard output gets one JSON object per utterance, written the moment it is known (``type: utterance``: index,
start, end, text, labels, context_labels, lag), and one at the end (``type: end``: the whole timeline, the
last window's labels, the stream's duration and how long its processing took). Standard error shows the same as
a live view, then the timeline (``--quiet``: nothing there).
"""

from __future__ import annotations

import argparse
import json
import sys

from ..config import add_device_argument, add_prior_arguments, add_quantization_argument, prior_overrides
from ..errors import InputError
from ..inference.stream import DEFAULT_CONTEXT, DEFAULT_MIN_SILENCE



def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", nargs="?", default=None,
                   help="a media file, a URL FFmpeg opens (rtsp, http, udp, srt), or - for standard input")
    p.add_argument("--mic", action="store_true", help="listen to the default microphone instead (Ctrl-C ends)")
    p.add_argument("--mic-device", default=None, help="--mic: a sounddevice input device name or index")
    p.add_argument("--pcm", type=int, default=None, metavar="RATE",
                   help="standard input is raw mono signed 16-bit little-endian PCM at RATE Hz (default: any "
                        "container FFmpeg reads)")
    p.add_argument("--realtime", action="store_true",
                   help="play a file at its own pace, as if it were spoken now (default: as fast as it decodes)")
    p.add_argument("--checkpoint", default=None, help="a trained model folder (default: the shipped model)")
    p.add_argument("--context", type=int, default=DEFAULT_CONTEXT,
                   help=f"utterances of the dialogue so far in each answer, the newest included "
                        f"(default {DEFAULT_CONTEXT})")
    p.add_argument("--min-silence", type=float, default=DEFAULT_MIN_SILENCE,
                   help=f"seconds of silence that end an utterance (default {DEFAULT_MIN_SILENCE})")
    p.add_argument("--max-utterance", type=float, default=15.0,
                   help="an utterance still going on after this many seconds is cut (default 15)")
    p.add_argument("--speaker-baseline", nargs="+", default=None, metavar="FILE",
                   help="recordings of the same voice, to start its running baseline with")
    p.add_argument("--baseline-window", type=float, default=None, metavar="SECONDS",
                   help="the running baseline holds only the last SECONDS of speech, so that it follows a change of "
                        "voice (default: everything heard, best for one voice; docs/usage.md)")
    p.add_argument("--whisper-model", default=None, help="Whisper model for transcription (default: bundled tiny.en)")
    p.add_argument("--beam-size", type=int, default=1,
                   help="transcription beam size (default 1, greedy: the lag matters more here than in predict)")
    p.add_argument("--max-new-tokens", type=int, default=32)
    add_prior_arguments(p)
    p.add_argument("--quiet", action="store_true", help="no live view on standard error, JSON only")
    p.add_argument("--float32", action="store_true",
                   help="keep the LLM in float32 on a CPU (default there: --int8, for the lag; docs/performance.md)")
    add_device_argument(p)
    add_quantization_argument(p)


def _chunks(args):
    from ..media.live import decoded_chunks, microphone_chunks, paced, pcm_chunks

    if args.mic:
        if args.source is not None:
            raise InputError(f"--mic and a source ({args.source}): give one of them")
        return microphone_chunks(device=args.mic_device)
    if args.source is None:
        raise InputError("no source: give a file, a URL, - for standard input, or --mic")
    if args.pcm is not None and args.source != "-":
        raise InputError(f"--pcm {args.pcm}: only for standard input (-), not {args.source}")
    if args.source == "-":
        stdin = sys.stdin.buffer
        chunks = pcm_chunks(stdin, args.pcm) if args.pcm is not None else decoded_chunks(stdin, name="<stdin>")
    else:
        chunks = decoded_chunks(args.source)
    return paced(chunks) if args.realtime else chunks


def run(args) -> int:
    from ..device import resolve_device
    from ..inference.predictor import Predictor
    from ..inference.stream import Endpointer, StreamLabeler, label_stream
    from ..model.llm import check_quantization

    from ..media.live import is_url

    live = args.mic or args.realtime or is_url(args.source or "")
    chunks = _chunks(args)  # bad arguments fail here, before the model loads
    endpointer = Endpointer(min_silence=args.min_silence, max_utterance=args.max_utterance)
    if args.context < 1:
        raise InputError(f"--context {args.context}: must be at least 1 utterance")
    if args.baseline_window is not None and not args.baseline_window > 0:
        raise InputError(f"--baseline-window {args.baseline_window}: must be positive seconds")
    device = resolve_device(args.device)
    quantize = args.quantize
    if args.float32 and quantize is not None:
        raise InputError(f"--float32 and --{'int8' if quantize == 'int8' else 'load-in-' + quantize}: give one of them")
    if quantize is None and not args.float32 and device.type == "cpu":
        quantize = "int8"
    check_quantization(quantize, device)
    checkpoint = args.checkpoint
    if checkpoint is None:
        from ..inference.pretrained import pretrained_path

        checkpoint = pretrained_path()
    predictor = Predictor(checkpoint, overrides=prior_overrides(args),
                          transcriber_model=args.whisper_model, beam_size=args.beam_size,
                          max_new_tokens=args.max_new_tokens, device=device, quantize=quantize)
    if args.speaker_baseline:
        predictor.set_speaker_baseline(args.speaker_baseline)
    labeler = StreamLabeler(predictor, context=args.context, baseline_window=args.baseline_window)
    view = None if args.quiet else sys.stderr

    def show(line):
        print(json.dumps(line.to_json(), ensure_ascii=False), flush=True)
        if view is not None:
            print(line.format(), file=view, flush=True)

    try:
        result = label_stream(chunks, labeler, endpointer, live=live, on_line=show)
    finally:
        labeler.close()
    summary = result.to_json()
    print(json.dumps(summary, ensure_ascii=False), flush=True)
    if view is not None:
        print(f"{args.source or 'microphone'}: {len(result.lines)} utterances in {result.seconds:.1f} s of audio "
              f"(processed in {result.processing_seconds:.1f} s); the last window: "
              f"{', '.join(summary['context_labels']) or '-'}", file=view, flush=True)
    if result.error is not None:  # everything heard until then was labelled and printed above
        name, message = args.source or "microphone", summary["error"]
        raise InputError(f"{message if name in message else f'{name}: {message}'}; the stream ended there "
                         f"(what was heard before is labelled above)")
    return 130 if result.interrupted and not args.mic else 0
