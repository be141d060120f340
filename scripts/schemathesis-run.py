"""The schemathesis CLI, with one workaround: CPython 3.11.7 (this machine's) can raise a
spurious `SystemError: AST constructor recursion depth mismatch` (fixed in 3.11.8) when
hypothesis parses a lambda's source to name it in a repr. The name is cosmetic, so such a
lambda is described as unknown, as hypothesis itself does when parsing fails; nothing that is
generated or checked changes."""

import sys
from typing import Any

from hypothesis.internal import lambda_sources

_describe = lambda_sources._lambda_description


def _described(f: Any, *args: Any, **kwargs: Any) -> str:
    try:
        return _describe(f, *args, **kwargs)
    except SystemError:
        return "lambda: <unknown>"


lambda_sources._lambda_description = _described

from schemathesis.cli import schemathesis  # noqa: E402

sys.argv[0] = "schemathesis"
sys.exit(schemathesis())
