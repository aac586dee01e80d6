"""Step Functions: fix 20 (the state machine definition parsed once, not once per execution).

20. moto's Step Functions interpreter parses the state machine's definition with its ANTLR
   grammar for every execution it starts (`ExecutionWorker._get_evaluation_entrypoint` ->
   `AmazonStateLanguageParser.parse`, moto/stepfunctions/parser/asl/parse/asl_parser.py), in
   pure Python: ~0.35 s for the ingest workflow's 28 KB definition on this machine, before the
   execution's first state, and again for the run closer's. The fix keeps the parse tree of
   each definition and builds each execution's program from it afresh (moto's own
   preprocessor, so no execution shares state with another); a definition with syntax errors
   is parsed, and refused, every time. No upstream issue found.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from shoppulse.local.moto_fixes.patching import ORIGINALS, replace


@lru_cache(maxsize=32)  # a few state machines per stack; exceptions are not cached
def _tree(definition: str) -> Any:
    """The parse tree of a definition, by moto's own parser (which raises on syntax errors)."""
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    moto_parse: staticmethod[[str], tuple[Any, Any]] = ORIGINALS[(AmazonStateLanguageParser, "parse")]
    return moto_parse.__func__(definition)[1]


def parse(definition: str) -> tuple[Any, Any]:
    """`AmazonStateLanguageParser.parse`: a new program, from the definition's kept tree."""
    from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor

    tree = _tree(definition)
    return Preprocessor().visit(tree), tree


def apply() -> None:
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    replace(AmazonStateLanguageParser, "parse", staticmethod(parse))
