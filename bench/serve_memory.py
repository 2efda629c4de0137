"""Memory over many edits (issue 28, point 3): starts `vramguard serve`, sends N edits one after another,
and after each reads the server's resident memory (VmRSS) and, where there is a GPU, its memory as NVML
counts it for the process. Prints the first edit's figures, the last's, and the largest departure from
the first, against the ±1 % the issue asks. Standard library only (NVML through pynvml where installed).
Usage: serve_memory.py VRAMGUARD MODEL PICTURE EDITS [serve options...]"""
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request


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


def gpu_bytes(pid):
    try:
        import pynvml
        pynvml.nvmlInit()
        total = 0
        for i in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            for process in pynvml.nvmlDeviceGetComputeRunningProcesses(handle):
                if process.pid == pid:
                    total += process.usedGpuMemory or 0
        return total
    except Exception:
        return None


def edit(port, picture, size):
    boundary = "vramguard-bench"
    parts = [("image", open(picture, "rb").read()), ("prompt", b"make the sky stormy"), ("size", size.encode())]
    body = b""
    for name, value in parts:
        body += f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"".encode()
        body += b"; filename=\"p.png\"\r\n" if name == "image" else b"\r\n"
        body += b"\r\n" + value + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/images/edits", data=body, method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(request, timeout=3600) as response:
        return json.load(response)


def main():
    vramguard, model, picture, edits = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    options = sys.argv[5:]
    size = os.environ.get("SERVE_SIZE", "384x256")
    port = free_port()
    server = subprocess.Popen([vramguard, "serve", model, "--listen", f"127.0.0.1:{port}", "--log-level", "warn",
                               *options])
    try:
        for _ in range(36000):
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5).status == 200:
                    break
            except Exception:
                time.sleep(0.1)
        rows = []
        started = time.time()
        for i in range(edits):
            edit(port, picture, size)
            rows.append((rss_bytes(server.pid), gpu_bytes(server.pid)))
            print(f"edit {i + 1}: RSS {rows[-1][0] / 1e6:.1f} MB" +
                  (f", GPU {rows[-1][1] / 1e6:.1f} MB" if rows[-1][1] is not None else ""), flush=True)
        first_rss, first_gpu = rows[0]
        worst_rss = max(abs(r - first_rss) for r, _ in rows) / first_rss
        line = (f"{edits} edits in {time.time() - started:.0f} s: RSS first {first_rss / 1e6:.1f} MB, last "
                f"{rows[-1][0] / 1e6:.1f} MB, largest departure {100 * worst_rss:.2f} %")
        if first_gpu:
            worst_gpu = max(abs(g - first_gpu) for _, g in rows) / first_gpu
            line += (f"; GPU (NVML) first {first_gpu / 1e6:.1f} MB, last {rows[-1][1] / 1e6:.1f} MB, largest "
                     f"departure {100 * worst_gpu:.2f} %")
        print(line + " (target: within 1 %)")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
