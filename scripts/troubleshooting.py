#!/usr/bin/env python3
"""Writes the catalogue of error messages in docs/troubleshooting.md from the sources, so that it cannot
go stale: every error vramguard raises (C++ `throw SomeError(...)`, the Python module's `_input_error`),
its message with ‹…› where a value goes, what to do (the error's hint), and the exit code.

    scripts/troubleshooting.py           rewrite the catalogue in docs/troubleshooting.md
    scripts/troubleshooting.py --check   exit 1, with a diff, when the committed catalogue differs (a test)
"""
import difflib
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(ROOT, "docs", "troubleshooting.md")
MARKER = "<!-- Everything below is written by scripts/troubleshooting.py from the sources: do not edit it by hand. -->"
SOURCES = ["host", "runtime", "architectures", "pipelines", "sdk", "strategies", "python/src", "python/vramguard"]

# How each error type turns its arguments into what the user reads, and its exit code.
KINDS = {
    "UsageError": (["message", "hint"], "{message}", None, 2),
    "InputError": (["path", "problem", "hint"], "{path}: {problem}", None, 2),
    "CheckpointError": (["file", "problem", "tensor"], "{file}: {problem}",
                        "the checkpoint is damaged or not a safetensors file; re-download or re-export it", 2),
    "JobError": (["message", "hint"], "{message}", None, 1),
    "MemoryError": (["message", "hint"], "{message}", None, 1),
    "VerificationError": (["problem"], "verification failed: {problem}",
                          "the loaded model does not match its plan or its files; this is a bug, please report it", 1),
    "StrategyOptionError": (["strategy", "message"], "strategy '{strategy}': {message}", "see docs/strategies.md for each strategy's options", 2),
    "PluginError": (["plugin", "file", "problem"], "strategy plugin '{plugin}' ({file}) {problem}",
                    "this is a bug in the plugin: choose another strategy (vramguard plugins lists them) or report it to its author", 1),
    "InvalidPlanError": (["plugin", "problem"], "plan from strategy '{plugin}' is invalid: {problem}",
                         "this is a bug in the strategy plugin; choose another strategy or report it to its author", 1),
    "NoFitError": (["strategy", "reason", "minimum"], "strategy '{strategy}' found no placement that fits: {reason}",
                   "raise --max-memory, lower --reserve, free GPU memory, or try another strategy (vramguard compare shows each)", 1),
    "InvalidByteSize": (["message"], "{message}", "sizes are 12GB (10⁹ bytes), 12GiB (2³⁰ bytes) or plain bytes", 2),
    "InvalidStrategyOption": (["message"], "{message}", "see docs/strategies.md for each strategy's options", 2),
    "Interrupted": (["what"], "{what}; everything it had allocated was released", None, 130),
}

AREAS = [
    ("host/config", "Options, environment and config files"),
    ("host/model", "Reading a model"),
    ("host/synth", "Synthetic models"),
    ("host/plugins", "Plugins"),
    ("host/request", "Devices, budgets and options"),
    ("host/engine", "Devices, budgets and options"),
    ("host/budget", "Devices, budgets and options"),
    ("host/devices", "Devices, budgets and options"),
    ("host/core", "Files and processes"),
    ("host/load", "Loading"),
    ("host/guard", "The memory guard"),
    ("host/run", "Running a model"),
    ("host/diagnose", "doctor and fix"),
    ("host/monitor", "monitor"),
    ("host/cli", "Commands"),
    ("runtime", "Running a model"),
    ("pipelines", "Editing an image"),
    ("sdk", "Strategies and their options"),
    ("strategies", "Strategies and their options"),
    ("python", "The Python module"),
]
IGNORED_WORDS = {"std", "string", "to_string", "format_bytes", "format_gb", "format_seconds", "text", "join", "str", "c_str", "what",
                 "value", "string_view", "static_cast", "size_t", "uint64_t", "int64_t", "path", "filename", "get", "name", "data"}


def area_of(path):
    for prefix, title in AREAS:
        if path.startswith(prefix):
            return title
    return "Other"


def unescape(literal):
    body = literal[1:-1]
    return re.sub(r'\\(.)', lambda m: {"n": " ", "t": " ", "\\": "\\", '"': '"', "'": "'"}.get(m.group(1), m.group(1)), body)


def literal_end(text, i):
    """The index past the string or character literal that starts at i."""
    j = i + 1
    while j < len(text) and text[j] != text[i]:
        j += 2 if text[j] == "\\" else 1
    return j + 1


def split_top(text, separator):
    """Splits at `separator` outside strings, characters and brackets."""
    parts, depth, current, i = [], 0, [], 0
    while i < len(text):
        c = text[i]
        if c in "\"'":
            end = literal_end(text, i)
            current.append(text[i:end])
            i = end
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        if c == separator and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(c)
        i += 1
    parts.append("".join(current))
    return [p.strip() for p in parts]


def placeholder(expression):
    if expression.startswith("e.what()") or expression.endswith(".what()"):
        return "‹reason›"
    words = [w for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", expression) if w not in IGNORED_WORDS and not w.isupper()]
    if not words:
        return "‹…›"
    # A member's trailing underscore is no part of its name (info_ → info).
    return "‹" + words[0].strip("_").replace("_", " ") + "›"


def render(expression, lookup):
    """A C++ string expression as text: literals as they are, everything else as ‹name›."""
    expression = expression.strip()
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", expression) and expression in lookup:
        return lookup[expression]
    if re.fullmatch(r"std::string\((.*)\)", expression, re.S):
        expression = re.fullmatch(r"std::string\((.*)\)", expression, re.S).group(1)
    out = []
    for piece in split_top(expression, "+"):
        piece = piece.strip()
        if re.fullmatch(r'"(?:[^"\\]|\\.)*"', piece):
            out.append(unescape(piece))
        elif piece:
            out.append(placeholder(piece))
    return re.sub(r"\s+", " ", "".join(out)).strip()


def local_strings(text):
    """`const std::string example = "...";` and `const char* const kExample = "...";` definitions of a file:
    what a hint given by name says."""
    found = {}
    for m in re.finditer(r'(?:const\s+)?std::string\s+([A-Za-z_][A-Za-z0-9_]*)\s*=\s*("(?:[^"\\]|\\.)*"(?:\s*\+\s*"(?:[^"\\]|\\.)*")*)\s*;', text):
        found.setdefault(m.group(1), render(m.group(2), {}))
    for m in re.finditer(r'const\s+char\s*\*\s*const\s+([A-Za-z_][A-Za-z0-9_]*)\s*=\s*((?:"(?:[^"\\]|\\.)*"\s*)+);', text):
        parts = re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(2))
        found.setdefault(m.group(1), "".join(unescape('"' + part + '"') for part in parts))
    return found


def call_arguments(text, start):
    """The text between the parenthesis at `start` and its match."""
    depth, i = 0, start
    while i < len(text):
        c = text[i]
        if c in "\"'":
            i = literal_end(text, i)
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return text[start + 1:i]
        i += 1
    return ""


def cpp_errors(path, text):
    lookup = local_strings(text)
    pattern = re.compile(r"\b(?:throw|return)\s+(" + "|".join(KINDS) + r")\s*\(")
    for m in pattern.finditer(text):
        kind = m.group(1)
        names, template, fixed_hint, code = KINDS[kind]
        arguments = split_top(call_arguments(text, m.end() - 1), ",")
        values = {}
        for name, argument in zip(names, arguments):
            values[name] = render(argument, lookup) if argument else ""
        for name in names:
            values.setdefault(name, "")
        if kind == "NoFitError" and values["strategy"] in ("kName", "name()", "‹…›") or values.get("strategy", "").startswith("‹"):
            values["strategy"] = "‹strategy›"
        message = template.format(**values)
        hint = fixed_hint if fixed_hint is not None else values.get("hint", "")
        # A message made only of values (an error passed on with its own text) says nothing by itself.
        if len(re.findall(r"[A-Za-z]", re.sub(r"‹[^›]*›", "", message))) < 6:
            continue
        yield (area_of(path), message, hint, code, path)


def python_errors(path, text):
    for m in re.finditer(r"_input_error\(", text):
        arguments = split_top(call_arguments(text, m.end() - 1), ",")
        # Adjacent literals join as Python joins them; a joined list (", ".join(names)) is one value.
        message = "".join(re.findall(r'f?"((?:[^"\\]|\\.)*)"', arguments[0])) if arguments else ""
        hint = arguments[1] if len(arguments) > 1 else ""
        hint = re.sub(r'"[^"]*"\.join\(([A-Za-z_]+)[^)]*\)', lambda g: '"{' + g.group(1) + '}"', hint)
        hint = "".join(re.findall(r'f?"((?:[^"\\]|\\.)*)"', hint))
        message = re.sub(r"\{([^}]*)\}", lambda g: "‹" + re.sub(r"[^a-z ]", " ", g.group(1).split("[")[0].split(".")[-1]).strip() + "›", message)
        hint = re.sub(r"\{([^}]*)\}", lambda g: "‹" + re.sub(r"[^a-z ]", " ", g.group(1).split("[")[0].split(".")[-1]).strip() + "›", hint)
        message, hint = re.sub(r"\s+", " ", message).strip(), re.sub(r"\s+", " ", hint).strip()
        if message:
            yield ("The Python module", "vramguard.InputError: " + message, hint, "—", path)


def join_adjacent_literals(text):
    """C++ text with adjacent string literals ("a" "b", as clang-format splits a long one) made one."""
    out, last_end, last_was_string = [], 0, False
    for m in re.finditer(r"'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\"|//[^\n]*", text):
        between = text[last_end:m.start()]
        token = m.group(0)
        if token.startswith('"') and last_was_string and between.strip() == "":
            out[-1] = out[-1][:-1] + token[1:]  # the previous literal, less its closing quote, then this one's text
        else:
            out.append(between)
            out.append(token)
        last_was_string = token.startswith('"')
        last_end = m.end()
    out.append(text[last_end:])
    return "".join(out)


def catalogue():
    rows = set()
    for folder in SOURCES:
        for directory, _, files in os.walk(os.path.join(ROOT, folder)):
            for name in sorted(files):
                path = os.path.join(directory, name)
                relative = os.path.relpath(path, ROOT)
                with open(path, encoding="utf-8") as f:
                    text = f.read()
                if name.endswith((".cpp", ".hpp")):
                    rows.update(cpp_errors(relative, join_adjacent_literals(text)))
                elif name.endswith(".py"):
                    rows.update(python_errors(relative, text))
    by_area = {}
    for area, message, hint, code, path in rows:
        by_area.setdefault(area, []).append((message, hint, code, path))
    out = [MARKER, "", "## Every error message", "",
           f"{len(rows)} messages, by where they arise. ‹…› marks a value the message names (a file, an option, a size). "
           "Exit codes: 2 bad usage or input, 1 the job failed (nothing fits, a plugin failed, a bug), 130 interrupted; "
           "the Python module raises the matching exception (docs/python.md).", ""]
    order = {title: i for i, (_, title) in enumerate(AREAS)}
    for area in sorted(by_area, key=lambda a: order.get(a, 99)):
        out += [f"### {area}", "", "| message | what to do | exit |", "|---|---|---|"]
        for message, hint, code, path in sorted(by_area[area]):
            cell = lambda s: s.replace("|", "\\|").replace("\n", " ")
            out.append(f"| {cell(message)} | {cell(hint) or '—'} | {code} |")
        out.append("")
    return "\n".join(out)


def main():
    with open(DOC, encoding="utf-8") as f:
        current = f.read()
    head = current.split(MARKER)[0].rstrip() + "\n\n"
    wanted = head + catalogue()
    if "--check" in sys.argv:
        if current != wanted:
            sys.stdout.writelines(difflib.unified_diff(current.splitlines(True), wanted.splitlines(True), "committed", "from the sources", n=1))
            print("\ndocs/troubleshooting.md is stale: run scripts/troubleshooting.py and commit the result")
            return 1
        print("docs/troubleshooting.md lists every error message in the sources")
        return 0
    with open(DOC, "w", encoding="utf-8") as f:
        f.write(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
