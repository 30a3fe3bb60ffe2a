"""Do the pairs teach? The outcome benchmark: verifiable instruction following, four arms at an
equal training budget (base, SFT on the chosen answers, IPO on pairforge's pairs, SFT then IPO),
scored on held-out prompts with IFEval's constraint families and on IFBench (out of distribution).
The code lives in benchmarks/ifeval/ (its README has the design, the costs and the commands); this
entry point takes the same arguments.

    python benchmarks/outcome.py --quick        # tiny random model, a few prompts: the CI smoke run
    python benchmarks/outcome.py                # the full run (hours on 2 CPU cores; see --help)

benchmarks/preference_accuracy.py is the older proxy (held-out implicit-reward accuracy).
"""

import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks.ifeval.run import main

    main()
