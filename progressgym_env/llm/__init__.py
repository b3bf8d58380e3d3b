"""LLM backend: real Hugging Face causal LMs as agent models, human proxies and simulated humans.

:func:`run_examinee` runs a challenge's judge on one examinee (see :mod:`progressgym_env.llm.judging`).
"""

from progressgym_env.llm.judging import ExamineePolicy, ExamineeRun, run_examinee

__all__ = ["ExamineePolicy", "ExamineeRun", "run_examinee"]
