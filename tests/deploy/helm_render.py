"""Renders a Helm chart offline with Go's text/template and the sprig functions.

Helm itself cannot be installed here, so this follows what `helm template` does:
values.yaml deep-merged with override files, the built-in objects (.Values,
.Release, .Chart, .Capabilities), named templates shared by every file, and
every template file except the `_` partials rendered on its own.

The Go side comes from py-go-template, which offers sprig plus `tpl`,
`required` and `toYaml` but not Helm's `include`. Named templates are
therefore inlined: `include "name" ARG` becomes `tpl "<body>" ARG`, which
renders the body against ARG exactly as include does. Likewise
`.Files.Get "path"` becomes the file's text as a string literal (Helm gives
"" for a file the chart lacks; templates/ is not among a chart's files).
Missing map keys are
errors here (Helm's `--strict`), so a template reading a value that
values.yaml lacks fails the render.

The Go library exits the process on a template error, so each file renders
in a child process.
"""

import copy
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

WORKER = Path(__file__).with_name("gotemplate_worker.py")
ACTION = re.compile(r"\{\{(-?)(.*?)(-?)\}\}", re.S)
BLOCK_START = re.compile(r"^\s*(if|range|with|define|block)\b")
BLOCK_END = re.compile(r"^\s*end\s*$")
DEFINE = re.compile(r'^\s*define\s+"([^"]+)"\s*$')
INCLUDE = re.compile(r'\binclude\s+"([^"]+)"')
FILES_GET = re.compile(r'\.Files\.Get\s+"([^"]+)"')


class RenderError(Exception):
    """A template failed; the message is the Go template error (or `fail` text)."""


def deep_merge(base, override):
    """Helm's coalescing: maps merge key by key, anything else replaces, null deletes."""
    result = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = deep_merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def _actions(text):
    """Yields (match, inner) for each action, skipping comments."""
    for match in ACTION.finditer(text):
        inner = match.group(2)
        if inner.strip().startswith("/*"):
            continue
        yield match, inner


def find_defines(text):
    """Named templates in `text` as {name: body}, with the define's trim markers applied."""
    defines = {}
    stack = []
    for match, inner in _actions(text):
        if BLOCK_START.match(inner):
            name = DEFINE.match(inner)
            stack.append((name.group(1) if name else None, match))
        elif BLOCK_END.match(inner):
            if not stack:
                raise RenderError(f"unbalanced end at offset {match.start()}")
            name, opening = stack.pop()
            if name is not None:
                body = text[opening.end():match.start()]
                if opening.group(3) == "-":
                    body = body.lstrip()
                if match.group(1) == "-":
                    body = body.rstrip()
                defines[name] = body
    if stack:
        raise RenderError("unclosed block")
    return defines


def inline_includes(text, defines, seen=()):
    """Replaces each `include "name"` with `tpl "<body>"`, bodies inlined recursively."""

    def replace(match):
        name = match.group(1)
        if name not in defines:
            raise RenderError(f'include of undefined template "{name}"')
        if name in seen:
            raise RenderError(f'template "{name}" includes itself')
        body = inline_includes(defines[name], defines, seen + (name,))
        # A JSON string is also a valid Go string literal.
        return "tpl " + json.dumps(body)

    return INCLUDE.sub(replace, text)


def inline_files(text, chart_dir):
    """Replaces each `.Files.Get "path"` with the file's text as a Go string literal."""

    def replace(match):
        path = chart_dir / match.group(1)
        inside = path.resolve().is_relative_to(chart_dir.resolve())
        readable = inside and path.is_file() and not match.group(1).startswith("templates/")
        return json.dumps(path.read_text() if readable else "")

    return FILES_GET.sub(replace, text)


def load_chart(chart_dir):
    chart_dir = Path(chart_dir)
    chart = yaml.safe_load((chart_dir / "Chart.yaml").read_text())
    values = yaml.safe_load((chart_dir / "values.yaml").read_text()) or {}
    templates = {}
    for path in sorted((chart_dir / "templates").iterdir()):
        if path.is_file():
            templates[path.name] = path.read_text()
    return chart, values, templates


def render_chart(chart_dir, overrides=(), release="demo", namespace="video", kube_version="v1.30.0"):
    """Returns {file name: rendered text} for every non-partial template, or raises RenderError."""
    chart, values, templates = load_chart(chart_dir)
    for override in overrides:
        values = deep_merge(values, override)
    defines = {}
    for text in templates.values():
        defines.update(find_defines(text))
    major, minor = kube_version.lstrip("v").split(".")[:2]
    context = {
        "Values": values,
        "Release": {
            "Name": release,
            "Namespace": namespace,
            "Service": "Helm",
            "IsInstall": True,
            "IsUpgrade": False,
            "Revision": 1,
        },
        "Chart": {
            "Name": chart["name"],
            "Version": chart["version"],
            "AppVersion": chart.get("appVersion", ""),
            "Description": chart.get("description", ""),
        },
        "Capabilities": {"KubeVersion": {"Version": kube_version, "Major": major, "Minor": minor}},
    }
    rendered = {}
    with tempfile.TemporaryDirectory() as workdir:
        data_path = Path(workdir) / "context.json"
        data_path.write_text(json.dumps(context))
        for name, text in templates.items():
            if name.startswith("_"):
                continue
            source = Path(workdir) / name
            source.write_text(inline_files(inline_includes(text, defines), Path(chart_dir)))
            rendered[name] = _render_file(source, data_path)
    return rendered


def _render_file(source, data_path):
    result = subprocess.run(
        [sys.executable, str(WORKER), str(source), str(data_path)],
        capture_output=True,
        text=True,
        env={**os.environ, "GODEBUG": ""},
        check=False,
    )
    if result.returncode != 0:
        message = (result.stderr + result.stdout).strip()
        raise RenderError(f"{source.name}: {message}")
    return result.stdout


def manifests(rendered):
    """The Kubernetes objects of a render, as Helm would apply them (NOTES.txt excluded)."""
    objects = []
    for name, text in rendered.items():
        if not name.endswith((".yaml", ".yml")):
            continue
        for document in yaml.safe_load_all(text):
            if document:
                objects.append(document)
    return objects
