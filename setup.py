"""`pip install .`: builds vramguard's Python module with the project's CMake, against the torch the
installing interpreter imports, and packages it with its libraries (the runtime, the strategy plugins,
the CUDA runtime where torch has CUDA) and the ready configs. Build it without isolation, so that the
build sees that torch: `pip install --no-build-isolation .`.

VRAMGUARD_BUILD_DIR reuses a configured build tree (the tests' `build`, so that CI builds once);
otherwise the build goes to build-python-<python>-<torch>. CMAKE_BUILD_PARALLEL_LEVEL sets the jobs.
"""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent


def project_version():
    """The one version, the CMake project's."""
    match = re.search(r"project\(vramguard VERSION ([0-9.]+)", (ROOT / "CMakeLists.txt").read_text())
    if not match:
        sys.exit("setup.py: CMakeLists.txt names no project(vramguard VERSION ...)")
    return match.group(1)


class CMakeBuild(build_ext):
    """Builds the module's CMake targets and lays the package out as `import vramguard` finds it."""

    def run(self):
        try:
            import torch
        except ImportError:
            sys.exit("vramguard builds against the installed torch, and this interpreter cannot import it: install PyTorch "
                     "first, then `pip install --no-build-isolation .` (isolation would hide it)")
        tag = f"py{sys.version_info[0]}{sys.version_info[1]}-torch{torch.__version__.split('+')[0]}"
        build = Path(os.environ.get("VRAMGUARD_BUILD_DIR") or ROOT / f"build-python-{tag}").resolve()
        if not (build / "CMakeCache.txt").exists():
            subprocess.check_call(["cmake", "-S", str(ROOT), "-B", str(build), "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release",
                                   f"-DCMAKE_PREFIX_PATH={torch.utils.cmake_prefix_path}", f"-DPython3_EXECUTABLE={sys.executable}",
                                   "-DVRAMGUARD_PYTHON=ON", "-DVRAMGUARD_BUILD_TESTS=OFF", "-DVRAMGUARD_BUILD_BENCH=OFF"])
        subprocess.check_call(["cmake", "--build", str(build), "--target", "vramguard_python", "vramguard_strategies"])
        package = build / "python" / "vramguard"
        if not any(package.glob("_vramguard*.so")):
            sys.exit(f"setup.py: the build in {build} made no Python module: see its CMake output (the Python headers, "
                     "libtorch_python and pybind11 must be found)")
        # The package: its Python files, the extension and the configs as CMake laid them out; the
        # libraries in its lib/ (the extension's RPATH is $ORIGIN/lib; the runtime finds the plugins and
        # the CUDA runtime beside itself).
        target = Path(self.build_lib) / "vramguard"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(package, target, ignore=shutil.ignore_patterns("__pycache__"))
        (target / "lib").mkdir(exist_ok=True)
        for library in (build / "lib").glob("libvramguard_runtime.so*"):
            shutil.copy2(library, target / "lib", follow_symlinks=False)
        shutil.copytree(build / "lib" / "vramguard", target / "lib" / "vramguard", symlinks=True, dirs_exist_ok=True)


(ROOT / "build" / "setuptools").mkdir(parents=True, exist_ok=True)
setup(
    version=project_version(),
    packages=[],
    # One extension stands for the whole CMake build, so that the wheel is platform-specific.
    ext_modules=[Extension("vramguard._vramguard", sources=[])],
    cmdclass={"build_ext": CMakeBuild},
    # setuptools' own staging, apart from CMake's trees (build/ is the tests' build).
    options={"build": {"build_base": "build/setuptools"}, "egg_info": {"egg_base": "build/setuptools"}},
    zip_safe=False,
)
