"""Calibrating the surrogate on a real backend: collect transitions, fit a response model (docs/design.md, "Calibrated surrogate physics").

- :mod:`~progressgym_env.calibration.design`: the designed action set (pulses, random, zero actions);
- :mod:`~progressgym_env.calibration.collect`: runs it on the ``llm`` backend (vector mode, checkpointed);
- :mod:`~progressgym_env.calibration.fit`: fits and selects the response model (statsmodels, sklearn);
- the fitted file is read by :mod:`progressgym_env.backends.calibration` (light: numpy only).

Nothing here is imported by ``import progressgym_env``.
"""
