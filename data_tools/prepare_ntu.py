"""Pack a raw NTU RGB+D tree into a memory-mappable store (one pass, resumable).

    python data_tools/prepare_ntu.py RAW_ROOT OUT --modalities skeleton depth rgb ir --size 112 [--check]

Same as ``mmfusion prepare RAW_ROOT OUT ...``; see ``docs/data.md`` and
:mod:`mmfusion.data.store` for the options and the store layout.
"""

from __future__ import annotations

import sys

from mmfusion.data.store import main

if __name__ == "__main__":
    sys.exit(main())
