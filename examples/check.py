"""Check the results files of the study examples (what CI runs after ``--quick``).

    python examples/check.py build/examples/*/results.json

Prints every check; exits with status 1 when a file is missing or unreadable, a check
failed, or the file does not say it passed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(paths: list[str]) -> int:
    if not paths:
        print("usage: python examples/check.py RESULTS.json...", file=sys.stderr)
        return 2
    bad = 0
    for p in paths:
        path = Path(p)
        try:
            res = json.loads(path.read_text(encoding="utf-8"))
            checks = res["checks"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            print(f"FAIL {path}: unreadable results file ({exc})")
            bad += 1
            continue
        failed = [c for c in checks if not c.get("passed")]
        status = "ok  " if res.get("passed") and not failed and checks else "FAIL"
        print(f"{status} {res.get('study', path)}: {len(checks)} checks, {res.get('seconds')} s")
        for c in failed:
            print(f"     {c['name']} = {c['value']} outside [{c['lo']}, {c['hi']}]: {c['why']}")
        if not checks:
            print("     no checks recorded")
        bad += status == "FAIL"
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
