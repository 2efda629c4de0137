"""`vramguard serve`'s page in a real headless Chromium: the monitor's page with the edits on top — the
running edit and its step, the one waiting in the queue, the simulated GPU. A screenshot is kept as a
test artifact.

    serve_page_test.py VRAMGUARD_BINARY FIXTURE_DIR ARTIFACT_DIR
"""
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request

from monitor_page_test import chromium, dump_dom, screenshot


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def edit_request(url, picture, steps):
    """An edit of `steps` steps, posted as multipart/form-data; returns the status it was answered with."""
    boundary = "vramguard-page-test"
    fields = [("prompt", b"make the sky stormy"), ("size", b"384x256"), ("num_inference_steps", str(steps).encode())]
    body = b""
    for name, value in fields:
        body += f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n".encode() + value + b"\r\n"
    body += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"input.png\"\r\n"
             "Content-Type: image/png\r\n\r\n").encode() + picture + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    request = urllib.request.Request(url + "v1/images/edits", data=body,
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(request, timeout=300) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0  # the server stopped under it


def state(url):
    with urllib.request.urlopen(url + "api/state", timeout=30) as answer:
        return json.load(answer)


def until(condition, what, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.05)
    sys.exit(f"FAIL: {what} within {seconds} s")


def main():
    binary, fixture, artifacts = sys.argv[1], sys.argv[2], sys.argv[3]
    os.makedirs(artifacts, exist_ok=True)
    browser = chromium()
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    server = subprocess.Popen([binary, "serve", os.path.join(fixture, "pipeline"), "--simulate", "cuda:3GB",
                               "--cpu-memory", "4GiB", "--max-pixels", "131072", "--listen", f"127.0.0.1:{port}",
                               "--max-queue", "2", "--log-level", "warn"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "VRAMGUARD_STATE_DIR": artifacts})
    try:
        def ready():
            try:
                return state(url)["queue"]["ready"]
            except OSError:
                return False
        until(ready, "the server became ready", 120)
        picture = open(os.path.join(fixture, "input.png"), "rb").read()
        # Edits of 1,000 steps: one runs and one waits for as long as the page is looked at.
        for _ in range(2):
            threading.Thread(target=edit_request, args=(url, picture, 1000), daemon=True).start()
        until(lambda: state(url)["queue"]["running"] is not None and len(state(url)["queue"]["waiting"]) == 1,
              "one edit running and one waiting")

        dom = dump_dom(browser, url, 2500)
        running = re.search(r'<section id="queue" data-waiting="(\d+)" data-running="(\d*)"', dom)
        assert running, "the page has no queue section, or it stayed hidden"
        assert running.group(1) == "1", f"the page shows {running.group(1)} waiting, not 1"
        assert running.group(2) != "", "the page shows no running edit"
        assert re.search(r"running #\d+: (step \d+ of 1000|its prompt and pictures, before step 1 of 1000)", dom), \
            "the running edit's step is not on the page"
        assert re.search(r"<td>384x256</td><td>1000</td>", dom), "the waiting edit's size and steps are not listed"
        assert re.search(r'<section class="gpu[^"]*" data-gpu="0"', dom), "the simulated GPU is not on the page"

        shot = os.path.join(artifacts, "serve-page.png")
        screenshot(browser, url, shot, 900)
        print(f"ok: the running edit, the waiting one and the GPU on the page; screenshot {shot}")
    finally:
        server.terminate()  # SIGTERM: the running edit stops being waited for once the test ends
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    main()
