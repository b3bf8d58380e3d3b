"""``progressgym site RESULTS --out SITE_DIR``: the leaderboard as a static, self-contained web page."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from progressgym_env.benchmark.site import SiteConfig
    from progressgym_env.cli.dataclass_args import add_command

    add_command(
        subparsers,
        "site",
        SiteConfig,
        run,
        help="build the leaderboard as a static web page (one index.html, Plotly inlined, opens offline)",
        description="Read RESULTS (a benchmark folder or ProgressGym result files), recompute every score with the "
        "judges and write OUT/index.html: per challenge the leaderboard with 95% CIs, a chart of normalized scores "
        "with error bars, interactive value trajectories per agent, the run configs and links to the wandb runs.",
    )


def run(args: argparse.Namespace) -> int:
    from progressgym_env.benchmark.site import SiteConfig, build_site
    from progressgym_env.cli.dataclass_args import dataclass_from_args

    path = build_site(dataclass_from_args(SiteConfig, args))
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB, self-contained: open it in a browser)")
    return 0
