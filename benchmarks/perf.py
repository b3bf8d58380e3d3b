"""Environment throughput benchmark: the same as ``progressgym perf``.

Measures env-steps/s for each challenge: the single env (``env.unwrapped`` and ``gym.make``), the
native vector env at N = 1, 64, 1024, 4096 (and exact-rng mode at 64), Gymnasium's SyncVectorEnv and
SB3's DummyVecEnv at N = 64, their ratios and peak memory. Method: ``progressgym_env/perf.py``.

Usage::

    python benchmarks/perf.py --json perf.json
    python benchmarks/perf.py --env-ids PG-Follow-v0 --sizes 64,4096 --clock wall
"""

from __future__ import annotations

import sys

from progressgym_env.cli.dataclass_args import ArgumentParser, HelpFormatter
from progressgym_env.cli.perf import add_arguments, run


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="benchmarks/perf.py", description=__doc__.split("\n\n")[0],
                            formatter_class=HelpFormatter)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
