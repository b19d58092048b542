"""``acoustemo serve``: the request logic without a page, and the page end to end in a real headless browser."""

import json
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from acoustemo.cli import main
from acoustemo.data.manifest import Utterance
from acoustemo.errors import InputError
from acoustemo.inference.predictor import MediaPrediction
from acoustemo.inference.service import TIMELINE_HEADERS, Service

from conftest import FIXTURES

CLIP = FIXTURES / "ravdess" / "audio" / "Actor_01" / "03-01-01-01-01-01-01.flac"  # 3.3 s, "Kids are talking..."
DIALOGUE = Path(__file__).parents[2] / "examples" / "ravdess_actor20_dialogue.flac"  # three utterances, 7.7 s


class FakePredictor:
    """Stands in for acoustemo.inference.predictor.Predictor: records the calls, answers with two utterances."""

    def __init__(self):
        self.calls, self.threads = [], []

    def __call__(self, path, *, explain=False):
        self.calls.append((Path(path), explain))
        self.threads.append(threading.get_ident())
        utterances = [Utterance(0.1, 1.2, "Kids are talking"), Utterance(1.5, 3.0, "by the door")]
        return MediaPrediction(str(path), utterances, "calm, relaxed\n1: calm\n2: relaxed", ["calm", "relaxed"],
                               utterance_emotions=[["calm"], ["relaxed"]])


def test_a_request_gives_labels_timeline_and_a_json_download(tmp_path):
    fake = FakePredictor()
    result = Service(fake, explain=False, out_dir=tmp_path)(CLIP)
    assert fake.calls == [(CLIP, False)]
    assert result.labels == "calm, relaxed"
    assert result.timeline == [[0.1, 1.2, "Kids are talking", "calm", None],
                               [1.5, 3.0, "by the door", "relaxed", None]]
    assert len(TIMELINE_HEADERS) == len(result.timeline[0])
    saved = json.loads(Path(result.json_path).read_text())
    assert saved == result.result
    # the upload's server path is not handed back, only its name
    assert saved["media"] == CLIP.name and saved["emotions"] == ["calm", "relaxed"]
    assert [(u["text"], u["labels"]) for u in saved["utterances"]] == [("Kids are talking", ["calm"]),
                                                                        ("by the door", ["relaxed"])]
    assert result.figure is None


def test_requests_from_many_threads_run_the_model_on_one_thread_of_its_own(tmp_path):
    # the model's memory grows with every thread that calls it (allocator arenas, OpenMP pools): a web server's
    # pool of threads must not each become one
    from concurrent.futures import ThreadPoolExecutor

    fake = FakePredictor()
    service = Service(fake, explain=False, out_dir=tmp_path)
    callers = set()

    def ask(_):
        callers.add(threading.get_ident())
        return service(CLIP).labels

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(ask, range(8)))
    assert answers == ["calm, relaxed"] * 8 and len(fake.calls) == 8
    assert len(set(fake.threads)) == 1 and set(fake.threads).isdisjoint(callers | {threading.get_ident()})


def test_the_servers_allocator_arenas_are_limited_unless_the_user_set_them(monkeypatch):
    import platform

    from acoustemo.inference.service import limit_malloc_arenas

    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert limit_malloc_arenas() is False  # the user's own setting stands
    monkeypatch.delenv("MALLOC_ARENA_MAX")
    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert limit_malloc_arenas() is True


def test_uploads_over_the_limits_or_not_media_get_a_message_and_reach_no_model(tmp_path, media_synth):
    fake = FakePredictor()
    service = Service(fake, max_mb=0.01, max_seconds=2.0, out_dir=tmp_path)
    with pytest.raises(InputError, match=rf"{CLIP.name}: 0\.\d MB is above this server's limit of 0.01 MB"):
        service(CLIP)
    service.max_mb = 50
    with pytest.raises(InputError, match=rf"{CLIP.name}: 3\.\d s is longer than this server's limit of 2 s"):
        service(CLIP)
    junk = tmp_path / "upload.mp4"
    junk.write_bytes(os.urandom(4096))
    with pytest.raises(InputError, match="^upload.mp4: not a readable audio or video file") as error:
        service(junk)
    assert str(tmp_path) not in str(error.value)  # the name only, not where the server keeps uploads
    silent = media_synth.write_video(tmp_path / "silent.mp4", seconds=1.0, audio=False)
    with pytest.raises(InputError, match="silent.mp4: no audio track"):
        service(silent)
    assert fake.calls == []
    with pytest.raises(InputError, match="limits must be positive"):
        Service(fake, max_mb=0)


def test_serve_refuses_a_queue_of_zero_before_loading_anything(capsys):
    assert main(["serve", "--queue-size", "0"]) == 2
    assert "--queue-size 0: must be at least 1" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _browser(*extra: str):
    """Headless Debian chromium through its chromedriver (``extra`` command-line switches); skips with how to
    install them when absent."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.skip("no chromium/chromedriver: install them (Debian/Ubuntu: apt-get install chromium "
                    "chromium-driver; `make install` does it as root) to run the browser test")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is missing: pip install -e '.[test]'")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1100", *extra):
        options.add_argument(arg)
    return webdriver.Chrome(service=webdriver.ChromeService(executable_path=driver), options=options)


class SlowPredictor(FakePredictor):
    """A FakePredictor that takes ``seconds`` per answer (a queue builds up behind it)."""

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds = seconds

    def __call__(self, path, *, explain=False):
        import time

        time.sleep(self.seconds)
        return super().__call__(path, explain=explain)


def _ask_at_once(port: int, clients: int) -> list:
    """``clients`` API clients uploading CLIP at the same moment: each one's answer, or its error message."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from gradio_client import Client, handle_file

    ready = threading.Barrier(clients)

    def ask(_):
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        ready.wait()
        try:
            return client.predict(handle_file(str(CLIP)), None, api_name="/analyse")
        except Exception as e:  # noqa: BLE001 -- the message is what the test looks at
            return str(e)

    with ThreadPoolExecutor(clients) as pool:
        return list(pool.map(ask, range(clients)))


def test_four_clients_at_once_all_get_answers_and_a_full_queue_says_so(tmp_path):
    from acoustemo.recipes.serve import launch

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    fake = SlowPredictor(0.3)
    service = Service(fake, explain=False, out_dir=tmp_path / "a", keep_results=2)
    port = _free_port()
    app = launch(service, port=port, block=False, queue_size=4)
    try:
        answers = _ask_at_once(port, 4)
    finally:
        app.close()
    assert [a[0] if isinstance(a, tuple) else a for a in answers] == ["calm, relaxed"] * 4
    assert len(fake.calls) == 4
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["00003", "00004"]  # the last keep_results only
    # a queue of one behind one answer at a time: of four at once, two are refused with Gradio's message
    service = Service(SlowPredictor(2.0), explain=False, out_dir=tmp_path / "b")
    port = _free_port()
    app = launch(service, port=port, block=False, queue_size=1)
    try:
        answers = _ask_at_once(port, 4)
    finally:
        app.close()
    refused = [a for a in answers if isinstance(a, str)]
    assert len(refused) == 2 and all("queue is full" in a.lower() for a in refused), answers


@pytest.mark.slow
def test_the_page_in_a_real_browser(tmp_path):
    """The shipped model behind the page: upload the example dialogue, press Analyse, see the labels, the
    timeline and the evidence figure; then a corrupt upload shows its message. ACOUSTEMO_SCREENSHOT=PATH also
    saves the screenshot there (docs/serve.png in the README)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from acoustemo.inference.predictor import Predictor
    from acoustemo.inference.pretrained import pretrained_path
    from acoustemo.recipes.serve import launch

    browser = _browser()
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    service = Service(Predictor(pretrained_path()), out_dir=tmp_path / "results")
    port = _free_port()
    app = launch(service, port=port, block=False)
    try:
        browser.get(f"http://127.0.0.1:{port}/")
        wait = WebDriverWait(browser, 300)
        upload = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#audio input[type=file]"))
        upload.send_keys(str(DIALOGUE))
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#audio audio, #audio .waveform-container, "
                                                              "#audio button[aria-label*='lay']"))
        browser.find_element(By.CSS_SELECTOR, "#analyse").click()
        labels = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#labels textarea").get_attribute("value"))
        assert labels and all(w.strip() for w in labels.split(","))
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#figure img"))
        timeline = browser.find_element(By.CSS_SELECTOR, "#timeline").text
        for header in TIMELINE_HEADERS:
            assert header in timeline
        assert "by the door" in timeline  # the transcript of the RAVDESS sentences
        (result,) = [json.loads(p.read_text()) for p in (tmp_path / "results").rglob("*.acoustemo.json")]
        assert result["media"] == DIALOGUE.name and ", ".join(result["emotions"]) == labels
        assert len(result["utterances"]) >= 2 and all("evidence" in u for u in result["utterances"])
        time.sleep(1)  # let the figure finish drawing
        browser.save_screenshot(str(tmp_path / "serve.png"))
        if os.environ.get("ACOUSTEMO_SCREENSHOT"):
            browser.save_screenshot(os.environ["ACOUSTEMO_SCREENSHOT"])
        assert (tmp_path / "serve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

        # a file that is not media: the page says so, naming the file
        junk = tmp_path / "broken.wav"
        junk.write_bytes(b"RIFF" + os.urandom(2048))
        browser.find_element(By.CSS_SELECTOR, "#audio button[aria-label='Clear']").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#audio input[type=file]"))
        browser.find_element(By.CSS_SELECTOR, "#audio input[type=file]").send_keys(str(junk))
        time.sleep(2)
        browser.find_element(By.CSS_SELECTOR, "#analyse").click()
        toast = wait.until(lambda d: [e.text for e in d.find_elements(By.CSS_SELECTOR, ".toast-body")
                                      if "broken" in e.text])
        assert "broken.wav: not a readable audio or video file" in toast[0]
        assert str(tmp_path) not in toast[0] and "/gradio/" not in toast[0]  # the server's paths stay private
    finally:
        browser.quit()
        app.close()



@pytest.mark.slow
def test_the_live_tab_labels_a_fake_microphone_while_it_plays(tmp_path):
    """Chromium's fake microphone plays the example dialogue (in a loop); the live tab's timeline gets its rows
    while the recording goes on, utterance by utterance. ACOUSTEMO_SCREENSHOT_LIVE=PATH saves the screenshot
    (docs/serve-live.png in docs/usage.md)."""
    import soundfile
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from acoustemo.inference.predictor import Predictor
    from acoustemo.inference.pretrained import pretrained_path
    from acoustemo.inference.service import LiveSessions
    from acoustemo.media import load_audio
    from acoustemo.recipes.serve import launch

    import numpy as np

    mic = tmp_path / "mic.wav"  # the dialogue, then two seconds of silence before it loops
    soundfile.write(mic, np.concatenate([load_audio(DIALOGUE), np.zeros(32000, np.float32)]), 16000,
                    subtype="PCM_16")
    browser = _browser("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                       f"--use-file-for-fake-audio-capture={mic}")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    service = Service(Predictor(pretrained_path(), beam_size=1), out_dir=tmp_path / "results", explain=False)
    live = LiveSessions(service, max_live=1)
    port = _free_port()
    app = launch(service, port=port, block=False, live=live)
    try:
        browser.get(f"http://127.0.0.1:{port}/")
        wait = WebDriverWait(browser, 300)
        tab = wait.until(lambda d: [b for b in d.find_elements(By.CSS_SELECTOR, "button[role=tab]")
                                    if "Live" in b.text])
        tab[0].click()
        record = wait.until(lambda d: [b for b in d.find_elements(By.CSS_SELECTOR, "#live-audio button")
                                       if "record" in (b.text + (b.get_attribute("aria-label") or "")).lower()])
        record[0].click()
        started = time.monotonic()

        def rows(d) -> int:  # every sentence of the dialogue ends "by the door"
            return d.find_element(By.CSS_SELECTOR, "#live-timeline").text.lower().count("by the door")

        wait.until(lambda d: rows(d) >= 1)  # while the fake microphone is still being recorded
        assert live.active, "the session is still open: the row came while recording"
        wait.until(lambda d: rows(d) >= 2)
        seconds_to_two_rows = time.monotonic() - started
        labels = browser.find_element(By.CSS_SELECTOR, "#live-labels textarea").get_attribute("value")
        assert labels and all(w.strip() for w in labels.split(","))
        time.sleep(1)
        browser.save_screenshot(str(tmp_path / "live.png"))
        if os.environ.get("ACOUSTEMO_SCREENSHOT_LIVE"):
            browser.save_screenshot(os.environ["ACOUSTEMO_SCREENSHOT_LIVE"])
        stop = [b for b in browser.find_elements(By.CSS_SELECTOR, "#live-audio button")
                if "stop" in (b.text + (b.get_attribute("aria-label") or "")).lower()]
        stop[0].click()
        wait.until(lambda d: not live.active)  # the session is given back when the recording stops
        print(f"two live rows after {seconds_to_two_rows:.1f} s of recording")
    finally:
        browser.quit()
        app.close()
