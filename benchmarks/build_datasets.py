"""Build Charades-STA, ActivityNet Captions and TACoS in full from the real annotation files.

Features are SIMULATED (the real feature archives are not on these machines); trees come from the
spaCy parser when it can be imported, else the datasets are built without trees (`--trees` chooses).
Prints the rows read / kept / dropped by reason per split and the build time of each dataset.

    python benchmarks/build_datasets.py [--data ../shared/data] [--trees auto|spacy|none] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from datasets_scripts import BENCHMARK_BUILDERS, format_report  # noqa: E402

FOLDERS = {"charades-sta": "charades_sta", "activitynet-captions": "activitynet_captions", "tacos": "tacos"}


def spacy_parser_available() -> bool:
    try:
        from modeling_fvmr.srl_spacy import SpacySemanticRoleParser

        SpacySemanticRoleParser().parse_batch(["a person opens the door."], show_progress=False)
    except (ImportError, OSError) as error:
        print(f"spaCy semantic role parser unavailable ({error}); building without trees.")
        return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=os.environ.get("FVMR_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
    parser.add_argument("--output", help="Where to write the datasets (default: a temporary folder, deleted).")
    parser.add_argument("--trees", choices=["auto", "spacy", "none"], default="auto", help="auto: spaCy if importable.")
    parser.add_argument("--datasets", nargs="+", choices=list(FOLDERS), default=list(FOLDERS))
    parser.add_argument("--feature-dim", type=int, default=128)
    parser.add_argument("--max-clips", type=int, help="Cap on clips per video (default: none).")
    parser.add_argument("--json", help="Also write the results here.")
    args = parser.parse_args()

    trees = args.trees
    if trees == "auto":
        trees = "spacy" if spacy_parser_available() else "none"
    results = {}
    with tempfile.TemporaryDirectory(prefix="fvmr-datasets-") as scratch:
        output_root = Path(args.output or scratch)
        for name in args.datasets:
            started = time.perf_counter()
            built = BENCHMARK_BUILDERS[name](
                Path(args.data) / FOLDERS[name],
                output_root / name,
                features="simulated",
                tree_parser=trees,
                feature_dim=args.feature_dim,
                max_clips=args.max_clips,
            )
            seconds = time.perf_counter() - started
            size = sum(path.stat().st_size for path in (output_root / name).rglob("*") if path.is_file())
            results[name] = {"report": built.report, "seconds": round(seconds, 1), "bytes": size}
            print(format_report(built.report))
            print(f"  total {seconds:.1f} s (incl. reading back), {size / 2**20:.0f} MiB on disk\n")

    print(f"trees: {trees}; features: simulated, dim {args.feature_dim}, max_clips {args.max_clips}")
    print("| dataset | split | read | kept | dropped (by reason) | end_clipped | videos | build s |")
    print("|---|---|---:|---:|---|---:|---:|---:|")
    for name, result in results.items():
        for split, counts in result["report"]["splits"].items():
            dropped = {reason: count for reason, count in counts["dropped"].items() if count}
            print(
                f"| {name} | {split} | {counts['rows_read']} | {counts['rows_kept']} | {sum(dropped.values())} {dropped or ''} "
                f"| {counts['end_clipped']} | {counts['videos']} | {result['seconds']} |"
            )
    if args.json:
        Path(args.json).write_text(json.dumps({"trees": trees, "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
