"""3-D arrays of other joint conventions (smpl24, h36m17, coco17 ...) re-expressed from packed ntu25.

    python data_tools/derive_conventions.py /work/cache/skel60 /work/cache/skel60_3d --layouts smpl24 h36m17 coco17

Then ``recipes/pretrain_skeleton.py --method msclr --cache-dir /work/cache/skel60_3d`` with those
layouts (``--objective``). See :mod:`mmfusion.data.skeleton.conventions` and docs/ssl.md.
"""

from __future__ import annotations

import sys

from mmfusion.data.skeleton.conventions import main

if __name__ == "__main__":
    sys.exit(main())
