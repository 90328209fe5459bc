"""Fills in a deploy template's ${NAME} placeholders, as envsubst does, and nothing else.

nginx's own variables ($host, $request_id) are written without braces, so they stay.
A placeholder with no value is an error (envsubst would silently leave it empty).
"""

import re
import sys
from collections.abc import Mapping
from pathlib import Path

_PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")


def render(template: str, values: Mapping[str, str]) -> str:
    missing = sorted({name for name in _PLACEHOLDER.findall(template) if name not in values})
    if missing:
        raise KeyError(f"no value for {', '.join(missing)}")
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], template)


def placeholders(template: str) -> set[str]:
    return set(_PLACEHOLDER.findall(template))


if __name__ == "__main__":  # python -m deploy.render TEMPLATE > OUT, values from the environment
    import os

    sys.stdout.write(render(Path(sys.argv[1]).read_text(), os.environ))
