"""The GPU memory NVML counts for one process on each GPU (nvidia-smi's figure, the CUDA context
included), through ctypes, without pynvml: nvml_peak.py samples it while a command runs, serve_bench.py
reads it after each edit."""
import ctypes


class ProcessInfo(ctypes.Structure):  # nvmlProcessInfo_v2_t
    _fields_ = [("pid", ctypes.c_uint), ("usedGpuMemory", ctypes.c_ulonglong),
                ("gpuInstanceId", ctypes.c_uint), ("computeInstanceId", ctypes.c_uint)]


class ProcessMemory:
    """NVML's GPUs; OSError where libnvidia-ml is missing, RuntimeError where it does not start."""

    def __init__(self):
        self.nvml = ctypes.CDLL("libnvidia-ml.so.1")
        if self.nvml.nvmlInit_v2() != 0:
            raise RuntimeError("NVML did not initialise")
        count = ctypes.c_uint()
        self.nvml.nvmlDeviceGetCount_v2(ctypes.byref(count))
        self.handles = []
        for i in range(count.value):
            handle = ctypes.c_void_p()
            self.nvml.nvmlDeviceGetHandleByIndex_v2(i, ctypes.byref(handle))
            self.handles.append(handle)
        self.infos = (ProcessInfo * 256)()

    def per_gpu(self, pid):
        """The bytes process `pid` holds on each GPU, by index (0 where none, or where NVML cannot say)."""
        used = [0] * len(self.handles)
        for i, handle in enumerate(self.handles):
            n = ctypes.c_uint(len(self.infos))
            if self.nvml.nvmlDeviceGetComputeRunningProcesses_v3(handle, ctypes.byref(n), self.infos) == 0:
                for p in self.infos[: n.value]:
                    if p.pid == pid and p.usedGpuMemory < (1 << 62):  # larger: NVML_VALUE_NOT_AVAILABLE
                        used[i] += p.usedGpuMemory
        return used
