"""Smoke run of the benchmark harness: `python -m bench.smoke` (< 30 s).

Same as `python -m bench.run --smoke`; extra flags are passed through.
"""

import sys

from bench.run import main

if __name__ == "__main__":
    sys.exit(main(["--smoke", *sys.argv[1:]]))
