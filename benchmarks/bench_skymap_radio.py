"""Generation time of the sky-map and radio-trace datasets, full and fast, plus validation figures.

Times are for ``load(refresh=True)`` into a temporary cache directory, i.e. simulation plus the
atomic, checksummed write of the ``.npz`` file (the user's cache is not touched). Targets:
<= 60 s for each full dataset, <= 5 s for each fast one.

Run from the repository root: ``python benchmarks/bench_skymap_radio.py``.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import numpy as np
from _report import report, timer


def main() -> int:
    from sklearn.metrics import roc_auc_score

    from dlphys.datasets import radio, skymap

    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["DLPHYS_DATA_DIR"] = tmp
        for module, name in ((skymap, "skymap"), (radio, "radio")):
            for fast, target in ((False, 60.0), (True, 5.0)):
                with timer() as t:
                    data = module.load(fast=fast, refresh=True)
                mode = "fast" if fast else "full"
                ok &= report(f"{name} {mode} generation ({len(data['label'])} samples)", t(), target, "s")
            size = sum(p.stat().st_size for p in (Path(tmp) / name).glob("*.npz")) / 2**20
            report(f"{name} cache size (full + fast)", size, None, "MiB")

        # Validation figures on the full datasets (from the cache just written).
        sky = skymap.load(fast=False)
        sub = slice(0, 2000)
        auc = roc_auc_score(sky["label"][sub], skymap.pair_count(sky["directions"][sub], 3.0))
        report("skymap pair-count (3 deg) ROC AUC, 2000 maps", auc, None, "")
        bkg = sky["energy"][sky["label"] == 0].astype(np.float64).ravel()
        g_hat = 1.0 + bkg.size / np.sum(np.log(bkg / 40.0))
        report("skymap ML spectral index (true 3.0)", g_hat, None, "")

        rad = radio.load(fast=False)
        power = np.abs(np.fft.rfft(rad["traces"][:5000].astype(np.float64), axis=-1)) ** 2
        f = np.fft.rfftfreq(rad["traces"].shape[1], d=1 / 180e6)
        inside = (f >= 30e6) & (f <= 80e6)
        report("radio power fraction outside 30-80 MHz", 1 - power[:, inside].sum() / power.sum(), None, "")
        noise = rad["traces"][rad["label"] == 0]
        report(
            "radio noise-only trace RMS (mean)", float(np.sqrt(np.mean(noise.astype(np.float64) ** 2))), None, "σ_gal"
        )
    print("all targets met" if ok else "some targets missed")
    return 0  # a missed target is reported above, not a crash (run_all.py counts crashes)


if __name__ == "__main__":
    sys.exit(main())
