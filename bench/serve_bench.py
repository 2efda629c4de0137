"""`vramguard serve` over many edits (issue 28, points 3 and Measure): starts the server, and prints
- its ready time (start to /health 200) and the load's own time (/metrics);
- each edit's latency, and the server's resident memory (VmRSS) and GPU memory as NVML counts it for the
  process (the context included) after each;
- the largest departure of RSS and NVML from where the first edit left them, against the issue's ±1 %;
- with --idle-unload among the serve options: how long after the last edit the model left, the memory
  then, and the next edit's latency with the reload's time (/metrics) inside it.
Standard library only (NVML through ctypes where libnvidia-ml is installed). A JSON summary is the last line.
Usage: serve_bench.py VRAMGUARD MODEL PICTURE EDITS [serve options...]
Environment: SERVE_SIZE (the result's WxH, default 384x256), SERVE_STEPS (steps an edit, default: the
server's), SERVE_LATENCY_EDITS (how many of the first edits' latencies to print one by one, default all)."""
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "gpu"))
from nvml_process import ProcessMemory  # noqa: E402


def nvml_or_none():
    try:
        return ProcessMemory()
    except (OSError, RuntimeError):
        return None


def gpu_bytes(nvml, pid):
    """The process's GPU memory as NVML counts it, summed over the GPUs; None without NVML."""
    return sum(nvml.per_gpu(pid)) if nvml else None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        return response.status, response.read().decode()


def metric(port, name):
    match = re.search(rf"^{name} (\S+)$", get(port, "/metrics")[1], re.M)
    return float(match.group(1)) if match else None


def edit(port, picture, size, steps):
    boundary = "vramguard-bench"
    parts = [("image", open(picture, "rb").read()), ("prompt", b"make the sky stormy"), ("size", size.encode())]
    if steps:
        parts.append(("num_inference_steps", steps.encode()))
    body = b""
    for name, value in parts:
        body += f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"".encode()
        body += b"; filename=\"p.png\"\r\n" if name == "image" else b"\r\n"
        body += b"\r\n" + value + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/images/edits", data=body, method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    started = time.time()
    with urllib.request.urlopen(request, timeout=3600) as response:
        json.load(response)
    return time.time() - started


def departure(values):
    return max(abs(v - values[0]) for v in values) / values[0] if values and values[0] else None


def main():
    vramguard, model, picture, edits = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    options = sys.argv[5:]
    size, steps = os.environ.get("SERVE_SIZE", "384x256"), os.environ.get("SERVE_STEPS")
    shown = int(os.environ.get("SERVE_LATENCY_EDITS", edits))
    idle_unload = float(options[options.index("--idle-unload") + 1]) if "--idle-unload" in options else None
    nvml, port = nvml_or_none(), free_port()
    started = time.time()
    server = subprocess.Popen([vramguard, "serve", model, "--listen", f"127.0.0.1:{port}", "--log-level", "warn",
                               *options])
    summary = {"edits": edits, "size": size, "steps": steps}
    try:
        while True:
            if server.poll() is not None:
                sys.exit(f"the server exited with {server.returncode} before it was ready")
            try:
                if get(port, "/health")[0] == 200:
                    break
            except Exception:
                time.sleep(0.05)
        summary["ready_seconds"] = time.time() - started
        summary["load_seconds"] = metric(port, "vramguard_serve_load_seconds")
        print(f"ready in {summary['ready_seconds']:.2f} s (the load itself {summary['load_seconds']:.2f} s); "
              f"RSS {rss_bytes(server.pid) / 1e6:.1f} MB" +
              (f", GPU {gpu_bytes(nvml, server.pid) / 1e6:.1f} MB" if nvml else ""), flush=True)
        latencies, rss, gpu = [], [], []
        for i in range(edits):
            latencies.append(edit(port, picture, size, steps))
            rss.append(rss_bytes(server.pid))
            gpu.append(gpu_bytes(nvml, server.pid))
            if i < shown:
                print(f"edit {i + 1}: {latencies[-1]:.2f} s, RSS {rss[-1] / 1e6:.1f} MB" +
                      (f", GPU {gpu[-1] / 1e6:.1f} MB" if gpu[-1] is not None else ""), flush=True)
        summary.update(latency_seconds=latencies, rss_bytes=rss, gpu_bytes=gpu if nvml else None,
                       step_seconds_mean=metric(port, "vramguard_serve_step_seconds_sum") /
                       max(1.0, metric(port, "vramguard_serve_step_seconds_count")))
        summary["rss_departure"] = departure(rss)
        line = (f"{edits} edits, latency first {latencies[0]:.2f} s, median {sorted(latencies)[len(latencies) // 2]:.2f}"
                f" s; RSS first {rss[0] / 1e6:.1f} MB, last {rss[-1] / 1e6:.1f} MB, largest departure "
                f"{100 * summary['rss_departure']:.2f} %")
        if nvml:
            summary["gpu_departure"] = departure(gpu)
            line += (f"; GPU (NVML) first {gpu[0] / 1e6:.1f} MB, last {gpu[-1] / 1e6:.1f} MB, largest departure "
                     f"{100 * summary['gpu_departure']:.2f} %")
        print(line + " (target: within 1 %)", flush=True)
        if idle_unload is not None:
            last = time.time()
            while json.loads(get(port, "/health")[1]).get("loaded", True):
                if time.time() - last > idle_unload + 120:
                    sys.exit("the server did not unload within --idle-unload + 120 s")
                time.sleep(0.05)
            summary["unloaded_after_seconds"] = time.time() - last
            time.sleep(0.5)
            summary["unloaded_rss_bytes"] = rss_bytes(server.pid)
            summary["unloaded_gpu_bytes"] = gpu_bytes(nvml, server.pid)
            summary["reload_edit_seconds"] = edit(port, picture, size, steps)
            summary["reload_seconds"] = metric(port, "vramguard_serve_load_seconds")
            summary["reloaded_rss_bytes"] = rss_bytes(server.pid)
            summary["reloaded_gpu_bytes"] = gpu_bytes(nvml, server.pid)
            gpu_then = summary["unloaded_gpu_bytes"]
            print(f"unloaded {summary['unloaded_after_seconds']:.1f} s after the last edit: RSS "
                  f"{summary['unloaded_rss_bytes'] / 1e6:.1f} MB" +
                  (f", GPU {gpu_then / 1e6:.1f} MB" if gpu_then is not None else "") +
                  f"; the next edit took {summary['reload_edit_seconds']:.2f} s, the reload in it "
                  f"{summary['reload_seconds']:.2f} s; then RSS {summary['reloaded_rss_bytes'] / 1e6:.1f} MB" +
                  (f", GPU {summary['reloaded_gpu_bytes'] / 1e6:.1f} MB" if nvml else ""), flush=True)
        print(json.dumps(summary))
    finally:
        server.terminate()
        summary_rc = server.wait()
        if summary_rc != 0:
            print(f"the server exited with {summary_rc} on SIGTERM (0 expected)", file=sys.stderr)


if __name__ == "__main__":
    main()
