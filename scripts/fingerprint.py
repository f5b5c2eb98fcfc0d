"""Print or store the physics fingerprint (calolab.simulation.fingerprint).

python scripts/fingerprint.py            # compare with the stored values, print the changes
python scripts/fingerprint.py --write    # store the current values (after a version bump)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from calolab.core.files import write_json
from calolab.simulation.fingerprint import physics_fingerprint

STORED = Path(__file__).resolve().parents[1] / "tests" / "simulation" / "fingerprint.json"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--write", action="store_true", help=f"store the values in {STORED}")
    args = ap.parse_args()
    now = physics_fingerprint()
    if args.write:
        if STORED.exists():
            old = json.loads(STORED.read_text())
            if old["model_versions"] == now["model_versions"] and old["cases"] != now["cases"]:
                print(
                    "refused: the showers changed but no model version did; bump the version in "
                    "src/calolab/physics/versions.py first",
                    file=sys.stderr,
                )
                return 2
        write_json(STORED, now)
        print(f"wrote {STORED}")
        return 0
    print(json.dumps(now, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
