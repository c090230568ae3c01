"""The `fvmr` command line: one sub-command per job.

Each sub-command is a pair `_add_<name>(subparsers)` / `_run_<name>(args)`, registered in
`COMMANDS`. Heavy imports happen inside the `_run_` functions so `fvmr --help` stays fast.
"""

from __future__ import annotations

import argparse
import sys


def _add_demo(subparsers) -> None:
    parser = subparsers.add_parser("demo", help="End-to-end run on the embedded synthetic world (no download).")
    parser.add_argument("--output-dir", default="outputs/demo", help="Where the model is saved.")
    parser.add_argument("--seed", type=int, default=0)


def _run_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(output_dir=args.output_dir, seed=args.seed)
    return 0


def _add_hub_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("repo_id", help="Hub repository, 'namespace/name' (a bare name goes to your user).")
    parser.add_argument("--private", action="store_true", help="Create the repository private.")
    parser.add_argument("--revision", default=None, help="Branch to push to (created if absent); default main.")
    parser.add_argument("--token", default=None, help="Hub token; default HF_TOKEN or the `hf auth login` token.")


def _add_push(subparsers) -> None:
    parser = subparsers.add_parser("push", help="Upload a saved model folder with a generated model card to the Hub.")
    parser.add_argument("model_dir", help="Folder written by save_pretrained (and by `fvmr train`).")
    _add_hub_arguments(parser)
    parser.add_argument("--commit-message", default="Upload FVMR model")
    parser.add_argument("--no-card", action="store_true", help="Upload the folder's README.md as it is.")


def _run_hub_job(job) -> int:
    """Run a push; its expected failures become one `error:` line on stderr and exit status 1."""
    from huggingface_hub.errors import HfHubHTTPError

    try:
        job()
    except (ValueError, FileNotFoundError, PermissionError, HfHubHTTPError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def _run_push(args: argparse.Namespace) -> int:
    from .hub import push_model_folder

    def job():
        commit = push_model_folder(
            args.model_dir, args.repo_id, token=args.token, private=args.private, revision=args.revision,
            commit_message=args.commit_message, write_card=not args.no_card,
        )
        print(f"Pushed {args.model_dir} to {commit.repo_url.repo_id} (commit {commit.oid}).")

    return _run_hub_job(job)


def _add_push_dataset(subparsers) -> None:
    parser = subparsers.add_parser("push-dataset", help="Upload a built dataset folder (both configurations) to the Hub.")
    parser.add_argument("dataset_dir", help="Folder with annotations/, features/ and README.md.")
    _add_hub_arguments(parser)


def _run_push_dataset(args: argparse.Namespace) -> int:
    from .hub import push_dataset_folder

    def job():
        commit = push_dataset_folder(
            args.dataset_dir, args.repo_id, token=args.token, private=args.private, revision=args.revision
        )
        print(f"Pushed {args.dataset_dir} to the dataset repository {commit.repo_url.repo_id} (commit {commit.oid}).")

    return _run_hub_job(job)


COMMANDS = {
    "demo": (_add_demo, _run_demo),
    "push": (_add_push, _run_push),
    "push-dataset": (_add_push_dataset, _run_push_dataset),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fvmr", description="Fast Video Moment Retrieval (FVMR, ICCV 2021).")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for add, _ in COMMANDS.values():
        add(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return COMMANDS[args.command][1](args)


if __name__ == "__main__":
    sys.exit(main())
