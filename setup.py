"""`pip install .`: builds vramguard's Python module with the project's CMake, against the torch the
installing interpreter imports, and packages it with its libraries (the runtime, the strategy plugins,
the CUDA runtime where torch has CUDA) and the ready configs. Build it without isolation, so that the
build sees that torch: `pip install --no-build-isolation .`.

The build tree: VRAMGUARD_BUILD_DIR where set; else ./build when the README's commands configured it for
this same interpreter (its torch, so no second build of the whole C++); else build-python-<python>-<torch>.
CMAKE_BUILD_PARALLEL_LEVEL sets the jobs; `pip install -v` shows the build's progress.
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


def configured_for_this_interpreter(build):
    """Whether `build` is a configured tree whose Python is this interpreter (after links: a venv's python
    made with --system-site-packages is the interpreter it came from)."""
    cache = build / "CMakeCache.txt"
    if not cache.exists():
        return False
    match = re.search(r"^Python3_EXECUTABLE:[A-Z]+=(.+)$", cache.read_text(errors="replace"), re.MULTILINE)
    return bool(match) and os.path.realpath(match.group(1).strip()) == os.path.realpath(sys.executable)


def require_wheel_support():
    """pip builds a wheel: setuptools before 70.1 needs the `wheel` package for it, which a plain venv lacks
    (pip would say only "invalid command 'bdist_wheel'")."""
    if not {"bdist_wheel", "dist_info"} & set(sys.argv):  # what pip runs to build and describe a wheel
        return
    try:
        import setuptools.command.bdist_wheel  # noqa: F401  (setuptools >= 70.1 has its own)
    except ImportError:
        try:
            import wheel  # noqa: F401
        except ImportError:
            sys.exit("setup.py: building vramguard's wheel needs the `wheel` package in this environment, and "
                     "`--no-build-isolation` keeps pip from fetching it: install it (`pip install wheel`, or Debian's "
                     "python3-wheel with a venv made with --system-site-packages), then run pip again")


class CMakeBuild(build_ext):
    """Builds the module's CMake targets and lays the package out as `import vramguard` finds it."""

    def run(self):
        try:
            import torch
        except ImportError:
            sys.exit("vramguard builds against the installed torch, and this interpreter cannot import it: install PyTorch "
                     "first, then `pip install --no-build-isolation .` (isolation would hide it)")
        tag = f"py{sys.version_info[0]}{sys.version_info[1]}-torch{torch.__version__.split('+')[0]}"
        if os.environ.get("VRAMGUARD_BUILD_DIR"):
            build = Path(os.environ["VRAMGUARD_BUILD_DIR"]).resolve()
        elif configured_for_this_interpreter(ROOT / "build"):
            build = (ROOT / "build").resolve()
        else:
            build = (ROOT / f"build-python-{tag}").resolve()
        print(f"vramguard: building the module's C++ in {build} (pip install -v shows its progress)", file=sys.stderr)
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


require_wheel_support()
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
