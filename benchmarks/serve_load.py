"""``acoustemo serve`` under load: several clients uploading 10 s clips at once, through the page's own API.

    python benchmarks/serve_load.py [--clients 8] [--rounds 2] [--seconds 10] [--no-explain] [--int8]
                                    [--out docs/serve-load.json]

The shipped model (or ``--checkpoint``) behind the Gradio app that ``acoustemo serve`` builds, on a free local port,
with its defaults (a queue of ``--queue-size`` requests, one answer at a time, the evidence on unless
``--no-explain``). ``--clients`` threads each make a ``gradio_client.Client`` and, all released at once, upload the
clip ``--rounds`` times one after another (the clip: benchmarks/latency.py's, the example RAVDESS dialogue then
espeak-ng sentences, to ``--seconds``). Reported: how many got answers and how many were refused (a full queue),
each request's latency from upload to answer (p50, p95, max), the throughput, and the server's resident memory
(this process; the clients run in a process of their own) before the first request, after the first round's
answers and after the last. Nothing is asserted: it reports. Run it on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 1e6


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def run_clients(port: int, clip: str, clients: int, rounds: int, out) -> None:
    """In a process of its own (the server's memory is measured alone): ``clients`` threads, released at once,
    each uploading ``clip`` ``rounds`` times; ("answer", seconds) or ("refused", message) per request into ``out``,
    then ("done", None)."""
    from gradio_client import Client, handle_file

    start = threading.Barrier(clients)

    def client(i: int) -> None:
        c = Client(f"http://127.0.0.1:{port}/", verbose=False)
        start.wait()
        for _ in range(rounds):
            t = time.perf_counter()
            try:
                c.predict(handle_file(clip), None, api_name="/analyse")
            except Exception as e:  # noqa: BLE001 -- a refusal is a result here
                out.put(("refused", str(e).splitlines()[0]))
                continue
            out.put(("answer", time.perf_counter() - t))
            print(f"  client {i}: {time.perf_counter() - t:.2f} s", file=sys.stderr, flush=True)

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    out.put(("done", None))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--rounds", type=int, default=2, help="requests per client, one after another")
    p.add_argument("--seconds", type=float, default=10.0, help="length of the uploaded clip")
    p.add_argument("--queue-size", type=int, default=16, help="as acoustemo serve --queue-size")
    p.add_argument("--no-explain", action="store_true")
    p.add_argument("--int8", action="store_true", help="as acoustemo serve --int8")
    p.add_argument("--out", default=None, help="also write the numbers to this JSON file")
    args = p.parse_args()
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

    from latency import make_clip

    from acoustemo.inference.predictor import Predictor
    from acoustemo.inference.pretrained import pretrained_path
    from acoustemo.inference.service import Service, limit_malloc_arenas
    from acoustemo.recipes.serve import launch

    tmp = Path(tempfile.mkdtemp(prefix="acoustemo-serve-load-"))
    clip = make_clip(args.seconds, tmp / "clip.flac")
    arenas = limit_malloc_arenas()  # as acoustemo serve does
    predictor = Predictor(args.checkpoint or pretrained_path(), quantize="int8" if args.int8 else None)
    service = Service(predictor, explain=not args.no_explain, out_dir=tmp / "results")
    service(clip)  # warm: the first answer loads Whisper and fills the caches
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = launch(service, port=port, block=False, queue_size=args.queue_size)
    before = rss_mb()
    latencies, refused, trace = [], [], []
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    messages = ctx.Queue()
    clients = ctx.Process(target=run_clients, args=(port, str(clip), args.clients, args.rounds, messages))
    began = time.perf_counter()
    clients.start()
    try:
        while True:
            kind, value = messages.get()
            if kind == "done":
                break
            if kind == "answer":
                latencies.append(value)
                trace.append(rss_mb())
            else:
                refused.append(value)
    finally:
        wall = time.perf_counter() - began
        clients.join()
        app.close()
    after = rss_mb()
    report = {
        "clients": args.clients, "rounds": args.rounds, "clip_seconds": args.seconds, "queue_size": args.queue_size,
        "explain": not args.no_explain, "int8": args.int8, "malloc_arenas_limited": arenas,
        "answered": len(latencies), "refused": len(refused), "refusals": sorted(set(refused)),
        "latency_s": {"p50": round(statistics.median(latencies), 2), "p95": round(percentile(latencies, 0.95), 2),
                      "max": round(max(latencies), 2)} if latencies else None,
        "wall_s": round(wall, 1), "throughput_per_min": round(60 * len(latencies) / wall, 1),
        "rss_mb": {"before": round(before), "after_first_round": round(trace[min(args.clients, len(trace)) - 1])
                   if trace else None, "after": round(after)},
    }
    print(json.dumps(report, indent=2))
    if args.out:
        from acoustemo.io import atomic_write_text

        atomic_write_text(args.out, json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
