"""`infermedic fix PATH`: propose (default) or apply verified mechanical fixes for findings."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click


@click.command("fix")
@click.argument(
    "path", type=click.Path(exists=True, file_okay=False, path_type=Path), default=Path(".")
)
@click.option(
    "--select", default="", show_envvar=True, help="Only fix these codes (SVC001,K8S002)."
)
@click.option(
    "--apply",
    "do_apply",
    is_flag=True,
    help="Write the fixes (mode apply-in-dev). Without it nothing is written (mode propose).",
)
@click.option(
    "--allow-dirty",
    is_flag=True,
    help="With --apply: write even outside git or into files with uncommitted changes.",
)
@click.option(
    "--tests",
    is_flag=True,
    help="Also write a regression test per fix under tests/regression/.",
)
@click.option(
    "--input",
    "inputs",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A JSON file holding one example request body (repeatable): SVC006 builds its "
    "pydantic model from these and from the literal bodies the repo's tests post.",
)
@click.option(
    "--config", type=click.Path(exists=True, dir_okay=False), help="infermedic settings file."
)
@click.option(
    "--tracking-uri",
    default=None,
    help="MLflow registry SVC007 asks what `latest` names now, to pin that version "
    "(default: [tool.infermedic.registry] tracking-uri, else MLFLOW_TRACKING_URI).",
)
@click.option(
    "--audit-log",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("ops/audit.jsonl"),
    show_envvar=True,
    help="Append one JSON line per run here, after the diagnose runs (symptom → diagnosis → fix).",
)
def fix(
    path: Path,
    select: str,
    do_apply: bool,
    allow_dirty: bool,
    tests: bool,
    inputs: tuple[Path, ...],
    config: str | None,
    tracking_uri: str | None,
    audit_log: Path,
) -> None:
    """Print a unified diff for every finding with a mechanical fix; --apply writes it.

    Every fix is verified first: the repo is re-audited on a scratch copy with the fix in
    place, and a fix whose finding is still reported is dropped. --apply never commits;
    it writes only inside a git work tree whose affected files are clean. Nothing here
    touches a running service or a cluster.

    SVC006 (FastAPI) writes a pydantic model inferred from example bodies (the repo's tests'
    literal bodies, or --input files) and refuses when there is none.

    Codes with a fix: SVC001-SVC011 (SVC007 with a registry: --tracking-uri), XPL001, MON001,
    K8S001-K8S003, DKR002.
    `diagnose` prints this command for its root cause when a fix is verified for it;
    `infermedic demo SCENARIO --fix` shows a fix end to end, before and after.
    """
    from infermedic.diagnose.timeline import append_entry
    from infermedic.errors import InputError
    from infermedic.fix.engine import git_dirty, log_entry, plan, write
    from infermedic.settings import load_settings

    if tracking_uri is not None:
        from infermedic.registry.client import check_tracking_uri

        check_tracking_uri(tracking_uri)
    codes = tuple(c.strip().upper() for c in select.split(",") if c.strip())
    # only the selected rules run (a typo is a one-line error with a did-you-mean)
    settings = load_settings(Path(config) if config else None, start=path).override(select=codes)
    mode = "apply-in-dev" if do_apply else "propose"
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    root = path.resolve()
    result = plan(
        root, settings, codes, tests=tests, tracking_uri=tracking_uri, inputs=_bodies(inputs)
    )
    from infermedic.redact import redact_text

    def out(text: str = "", nl: bool = True) -> None:
        # a registry's error may echo its URI with a token in it: no secret is printed
        click.echo(redact_text(text), nl=nl)

    out(f"infermedic fix · mode: {mode}" + ("" if do_apply else " (nothing is written)"))
    diff = result.diff()
    if diff:
        out(diff, nl=False)
    for change in result.changes:
        out(f"fix     {change.code} {change.finding.location.describe()}: {change.summary}")
    for refusal in result.refusals:
        where = refusal.finding.location.describe()
        out(f"refused {refusal.finding.code} {where}: {refusal.reason}")
    for note in result.notes:
        out(f"note    {note}")
    no_fixer = sorted({f.code for f in result.no_fixer})
    if no_fixer:
        out(f"no mechanical fix for: {', '.join(no_fixer)} (see `infermedic explain CODE`)")
    written: list[str] = []
    if do_apply and result.texts:
        if not allow_dirty:
            dirty = git_dirty(root, sorted(p for p in result.texts if p not in result.created))
            if dirty:
                raise InputError(
                    f"uncommitted changes in {', '.join(dirty)}: commit or stash them first, "
                    "or pass --allow-dirty"
                )
        write(root, {rel: after for rel, (_before, after) in result.texts.items()})
        written = sorted(result.texts)
    append_entry(audit_log, log_entry(result, mode=mode, select=codes, written=written, at=started))
    if not result.changes:
        out("nothing to fix" if not result.refusals else "no fix could be made safely")
    elif do_apply:
        out(f"\nwrote {len(written)} file(s); nothing was committed. Review before committing:")
        for change in result.changes:
            out(f"  - {change.review}")
        for rel in sorted(result.created):
            out(f"  - {rel}: new regression test; run `pytest {rel}`")
        out(f"  then: git -C {root} diff")
    else:
        out("\nrun again with --apply to write these fixes (in a clean git work tree).")
    sys.stdout.flush()


MAX_INPUT_BYTES = 64 * 1024  # an example body, not a data set


def _bodies(paths: tuple[Path, ...]) -> tuple[object, ...]:
    """The JSON body in each `--input` file; a bad file is one line and exit 2."""
    from infermedic.jsontext import read

    return tuple(read(p, f"--input {p}", max_bytes=MAX_INPUT_BYTES) for p in paths)
