"""Run every ``benchmarks/bench_*.py`` in its own process (``make bench``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

here = Path(__file__).parent
failed = []
for script in sorted(here.glob("bench_*.py")):
    print(f"\n=== {script.name} " + "=" * (70 - len(script.name)), flush=True)
    if subprocess.run([sys.executable, str(script)], cwd=here.parent).returncode != 0:
        failed.append(script.name)
if failed:
    print(f"\nbenchmark scripts that crashed: {', '.join(failed)}")
    sys.exit(1)
