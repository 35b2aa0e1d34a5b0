"""The Terraform configuration as parsed HCL: modules, their declarations and references.

Terraform itself cannot be installed here. This parses every .tf file with an
HCL2 parser and answers what `terraform validate` would check across files:
that referenced variables, locals, resources, data sources, modules and module
outputs exist, and that module calls pass only declared inputs.
"""

import re
from dataclasses import dataclass, field
from pathlib import Path

import hcl2

META_ARGUMENTS = {"source", "version", "providers", "count", "for_each", "depends_on"}
REFERENCE = re.compile(
    r"\b(?:(var|local)\.([A-Za-z_][\w-]*)"
    r"|module\.([A-Za-z_][\w-]*)(?:\.([A-Za-z_][\w-]*))?"
    r"|data\.([a-z0-9_]+)\.([A-Za-z_][\w-]*)"
    r"|(?<![.\w])(aws_[a-z0-9_]+)\.([A-Za-z_][\w-]*))"
)


def unquote(text):
    """python-hcl2 keeps the quotes of string literals and block labels."""
    if isinstance(text, str) and len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1]
    return text


@dataclass
class Module:
    directory: Path
    variables: dict = field(default_factory=dict)
    outputs: dict = field(default_factory=dict)
    locals: dict = field(default_factory=dict)
    resources: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)
    modules: dict = field(default_factory=dict)
    terraform: list = field(default_factory=list)
    strings: list = field(default_factory=list)

    def resource(self, address):
        return self.resources[address]

    def references(self):
        """(kind, name, attribute) for every reference in any expression of the module."""
        for text in self.strings:
            for match in REFERENCE.finditer(text):
                if match.group(1):
                    yield match.group(1), match.group(2), None
                elif match.group(3):
                    yield "module", match.group(3), match.group(4)
                elif match.group(5):
                    yield "data", f"{match.group(5)}.{match.group(6)}", None
                else:
                    yield "resource", f"{match.group(7)}.{match.group(8)}", None


def _strings(node, found):
    if isinstance(node, dict):
        for value in node.values():
            _strings(value, found)
    elif isinstance(node, list):
        for value in node:
            _strings(value, found)
    elif isinstance(node, str):
        found.append(node)


def _single_block(blocks):
    """Block labels are nested one-key dicts: {"type": {"name": body}}."""
    for block in blocks:
        for label, inner in block.items():
            yield unquote(label), inner


def load_module(directory):
    module = Module(Path(directory))
    for path in sorted(module.directory.glob("*.tf")):
        with path.open() as handle:
            parsed = hcl2.load(handle)
        for name, body in _single_block(parsed.get("variable", [])):
            module.variables[name] = body
        for name, body in _single_block(parsed.get("output", [])):
            module.outputs[name] = body
        for block in parsed.get("locals", []):
            module.locals.update({key: value for key, value in block.items() if not key.startswith("__")})
        for kind, named in _single_block(parsed.get("resource", [])):
            for name, body in named.items():
                module.resources[f"{kind}.{unquote(name)}"] = body
        for kind, named in _single_block(parsed.get("data", [])):
            for name, body in named.items():
                module.data[f"{kind}.{unquote(name)}"] = body
        for name, body in _single_block(parsed.get("module", [])):
            module.modules[name] = body
        module.terraform.extend(parsed.get("terraform", []))
        _strings(parsed, module.strings)
    return module


def module_directories(root):
    """Every directory under root holding .tf files."""
    return sorted({path.parent for path in Path(root).rglob("*.tf") if ".terraform" not in path.parts})


def strip_interpolation(text):
    """"${var.x}" -> "var.x"; a quoted literal -> its text."""
    text = unquote(text)
    if isinstance(text, str) and text.startswith("${") and text.endswith("}"):
        return text[2:-1]
    return text
