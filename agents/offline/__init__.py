"""Offline RL: Minari datasets of ProgressGym episodes (:mod:`agents.offline.datasets`, behaviour policies in
:mod:`agents.offline.behaviour`) and agents trained from them with torchrl's offline losses
(:mod:`agents.offline.training`; ``make_agent("offline:<folder>", env)`` loads one,
:mod:`agents.offline.agent`). Importing this package loads neither minari nor torch.
"""
