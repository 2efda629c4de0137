"""The page cache's read rate for the files given, with the loader's parallelism (threads reading
32 MiB chunks with pread): the other half of 'the slower of the page cache and the pinned copy'."""
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

CHUNK = 32 << 20
files = sys.argv[2:]
threads = int(sys.argv[1])
jobs = []
for f in files:
    size = os.path.getsize(f)
    jobs += [(f, off, min(CHUNK, size - off)) for off in range(0, size, CHUNK)]
local = {}


def read(job):
    f, off, n = job
    fd = os.open(f, os.O_RDONLY)
    buf = bytearray(n)
    done = os.preadv(fd, [memoryview(buf)], off)
    os.close(fd)
    return done


start = time.perf_counter()
with ThreadPoolExecutor(threads) as pool:
    total = sum(pool.map(read, jobs))
seconds = time.perf_counter() - start
print(f'{{"threads": {threads}, "bytes": {total}, "seconds": {seconds:.3f}, "bytes_per_s": {total / seconds:.0f}}}')
