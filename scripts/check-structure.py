#!/usr/bin/env python3
"""Checks the shape of the sources (docs/architecture.md, "Layers"):

- every #include "..." runs down the layer order declared in scripts/layers.txt, never up or across;
- no source file is longer than 500 lines;
- no line of C++ is wider than 120 columns, and every C++ file is as .clang-format formats it (where
  clang-format 14, Debian bookworm's, is installed: other versions format differently).

Prints one line per finding, naming the file and line, and exits 1 when there is any.
"""
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
SOURCE_ENDINGS = (".cpp", ".hpp", ".h", ".cu")
# Where the build looks for quoted includes, besides the including file's own folder (the
# target_include_directories of the CMake targets).
INCLUDE_ROOTS = ["host", "pipelines", "architectures", "runtime/include", "runtime/src", "sdk/include", "strategies"]
# The installed copy of host/core/errors.hpp that applications include.
GENERATED = {"vramguard/errors.hpp": "host/core/errors.hpp"}
NOT_LAYERED = ("tests/", "bench/", "plugins/", "build")
MAX_LINES = 500
MAX_COLUMNS = 120


def read_layers():
    levels = []
    with open(os.path.join(ROOT, "scripts", "layers.txt"), encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].split()
            if line:
                levels.append(line)
    return {folder: (index, folder) for index, folder_list in enumerate(levels) for folder in folder_list}


def layer_of(path, layers):
    """(level, folder) of the longest listed folder holding `path`; "X/*" stands for each folder in X
    not listed itself (a new model family needs no line of its own)."""
    best, best_rank = None, None
    for folder, (level, _) in layers.items():
        wildcard = folder.endswith("/*")
        if wildcard:
            parent = folder[:-2]
            if not path.startswith(parent + "/") or "/" not in path[len(parent) + 1:]:
                continue
            folder = parent + "/" + path[len(parent) + 1:].split("/")[0]
        elif not (path == folder or path.startswith(folder + "/")):
            continue
        rank = (len(folder), not wildcard)  # longest first; a folder listed by name before a wildcard's
        if best is None or rank > best_rank:
            best, best_rank = (level, folder), rank
    return best


def sources():
    for directory, subdirectories, files in os.walk(ROOT):
        rel_dir = os.path.relpath(directory, ROOT)
        subdirectories[:] = [d for d in subdirectories if not d.startswith(".") and not d.startswith("build")]
        for name in files:
            if name.endswith(SOURCE_ENDINGS + (".py",)):
                yield os.path.normpath(os.path.join(rel_dir, name))


def resolve(include, including):
    candidates = [os.path.join(os.path.dirname(including), include)]
    candidates += [os.path.join(root, include) for root in INCLUDE_ROOTS]
    for candidate in candidates:
        candidate = os.path.normpath(candidate)
        if os.path.isfile(os.path.join(ROOT, candidate)):
            return candidate
    return GENERATED.get(include)


def unformatted(paths):
    """The C++ files clang-format would change; None where no clang-format 14 is installed."""
    tool = shutil.which("clang-format")
    if tool is None:
        return None
    version = subprocess.run([tool, "--version"], capture_output=True, text=True).stdout
    if not re.search(r"version 14\.", version):
        return None
    result = subprocess.run([tool, "--dry-run", "--Werror"] + paths, cwd=ROOT, capture_output=True, text=True)
    return sorted(set(re.findall(r"^([^:\s]+):\d+:\d+: error: code should be clang-formatted", result.stderr, re.M)))


def main():
    layers = read_layers()
    findings = []
    cpp_files = []
    for path in sorted(sources()):
        with open(os.path.join(ROOT, path), encoding="utf-8", errors="replace") as f:
            lines = f.read().split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        if len(lines) > MAX_LINES:
            findings.append(f"{path}: {len(lines)} lines, more than {MAX_LINES}: split it by idea")
        for number, line in enumerate(lines, 1):
            if path.endswith(SOURCE_ENDINGS) and len(line) > MAX_COLUMNS:
                findings.append(f"{path}:{number}: {len(line)} columns, more than {MAX_COLUMNS}")
        if path.endswith(SOURCE_ENDINGS) and not path.startswith("build"):
            cpp_files.append(path)
        if not path.endswith(SOURCE_ENDINGS) or path.startswith(NOT_LAYERED):
            continue
        own = layer_of(path, layers)
        if own is None:
            findings.append(f"{path}: its folder is in no layer of scripts/layers.txt: add it there")
            continue
        for number, line in enumerate(lines, 1):
            stripped = line.strip()
            if not stripped.startswith("#include \""):
                continue
            include = stripped.split('"')[1]
            target = resolve(include, path)
            if target is None:
                continue  # a generated or third-party header
            theirs = layer_of(target, layers)
            if theirs is None or theirs[1] == own[1]:
                continue
            if theirs[0] > own[0]:
                findings.append(f"{path}:{number}: includes {target}, of {theirs[1]}, a higher layer than {own[1]}")
            elif theirs[0] == own[0]:
                findings.append(f"{path}:{number}: includes {target}, of {theirs[1]}, a peer of {own[1]}")
    formatting = unformatted(cpp_files)
    for path in formatting or []:
        findings.append(f"{path}: not as .clang-format formats it: run clang-format -i {path}")
    for finding in findings:
        print(finding)
    if findings:
        print(f"{len(findings)} findings (scripts/layers.txt declares the layers)")
        return 1
    checked = "checked" if formatting is not None else "not checked (no clang-format 14 here)"
    print(f"layers, file lengths and line widths: all in order; formatting {checked}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
