"""Renders one Go template file against a JSON context and prints the result.

usage: gotemplate_worker.py TEMPLATE CONTEXT.json
Runs as its own process because the Go library exits on a template error.
"""

import json
import sys
from pathlib import Path

import go_template


def main():
    template, context = Path(sys.argv[1]), json.loads(Path(sys.argv[2]).read_text())
    sys.stdout.write(go_template.render(template, context).decode())


if __name__ == "__main__":
    main()
