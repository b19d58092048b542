"""Experiments over many runs: the ablations of Table 2 over seeds (:mod:`.ablation`) and the noise and level
sweeps (:mod:`.noise`). They compose training, inference and results; the commands ``acoustemo ablate`` and
``acoustemo snr`` give them their arguments."""
