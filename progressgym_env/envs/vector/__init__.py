"""Native batched vector envs of the three challenges on the surrogate backend.

``gym.make_vec("PG-Follow-v0", num_envs=N)`` builds :class:`FollowVectorEnv` (likewise
:class:`PredictVectorEnv`, :class:`CoevolveVectorEnv`): the N sub-envs live in arrays with a leading
env axis and every step is a fixed number of numpy operations on them, whatever N (no Python loop
over envs in the default mode). ``vectorization_mode="sync"`` or ``"async"`` still give Gymnasium's
wrappers around N single envs, with the same semantics.

Layout (one job per module)
    ``env.py``        the ``VectorEnv`` API: argument checks, seeding, autoreset order, the classes.
    ``settings.py``   :class:`VectorSettings`, the single env's validated settings read once, and
                      :func:`check_batched_backend` (the one "surrogate only" rule).
    ``state.py``      the batched arrays: :class:`Histories` (H, logits, centuries) and
                      :class:`BatchState` (models, simulated humans, estimates, episode buffers).
    ``episodes.py``   the step: actions → models → rewards → observations, for rows of sub-envs,
                      asking the judge for targets, rewards, episode length and scores.
    ``estimates.py``  batched elicitation (answer shares, fast mode's binomial table).
    ``draws.py``      the random generators of the two ``rng_mode``\\ s and their seeding.
    ``layout.py``     Gymnasium's vector info layout (``_key`` masks) and the autoreset modes.
    ``records.py``    the terminated sub-envs' episode records in that layout.
    ``rows.py``       a selection of sub-envs and per-row indexing by century.

Semantics
    Each sub-env is the single env of its challenge (``progressgym_env/envs/base.py``): same kwargs,
    spaces, timeline, rewards, info keys and scores. The same code computes them: the surrogate's
    physics (:mod:`progressgym_env.backends.physics`) and the challenge's judge
    (:mod:`progressgym_env.judges`) work on arrays of any batch shape, so the numbers are the single
    env's bit for bit, given the same random draws.

Autoreset: ``AutoresetMode.NEXT_STEP`` (Gymnasium's default, as in ``SyncVectorEnv`` and
    ``CartPoleVectorEnv``), so switching ``vectorization_mode`` changes nothing: the step that
    terminates a sub-env returns its terminal observation and, in ``infos``, its ``final_score``,
    ``normalized_score`` (0.0 on the other steps) and ``episode_record``; the next ``step`` resets
    that sub-env instead of stepping it (its action is ignored, reward 0, not terminated) and returns
    the first observation of the new episode with the reset info. ``reset(options={"reset_mask": m}``)
    resets only the masked sub-envs, like ``SyncVectorEnv``. ``SAME_STEP`` and ``DISABLED`` behave
    as Gymnasium documents them.

Infos: Gymnasium's dict-of-arrays form, exactly the layout ``SyncVectorEnv`` builds from the single
    env's infos: each key holds an array with a leading env axis ((N, d) float64 for vectors, (N,)
    int64/float64 for numbers, object arrays for strings and lists) and ``_key`` a bool mask of the
    sub-envs that set it. The single env has one info structure (every key at every reset and step),
    so every mask is all True except ``_episode_record`` (``record_in_info=True``): the terminated
    sub-envs. ``episode_record`` is a nested dict of the same form (its record arrays are
    (N, T, d), (N, steps, d), ...). :func:`episode_record_at` recovers one sub-env's plain record,
    ready for :func:`~progressgym_env.judges.score_record` (its own copies). The record fields every
    sub-env shares (names, config, provenance) are built once: their object arrays are fresh at every
    step but hold the same list objects, so treat them as read-only.

Random numbers: ``rng_mode``
    Same seed ⇒ same trajectories needs each sub-env to draw from its own generator, seeded like the
    single env (``gymnasium.utils.seeding.np_random(seed + i)``), in the single env's order. numpy
    cannot draw from N generators in one call, so two modes:

    * ``"fast"`` (default): one generator for the whole batch (seeded by ``reset(seed=s)`` with
      ``np_random(s)``), each random quantity of a step drawn for all sub-envs in one call. Every
      sub-env follows exactly the single env's distribution, and a seed reproduces the batch, but a
      sub-env's trajectory differs from a single env seeded alike. When the answering humans are a
      fixed history (Follow and Predict on the corpus or a file), answer shares come from
      :class:`~progressgym_env.elicitation.BinomialTable`: the same exact binomial distribution by
      inverse-CDF lookup, tens of times cheaper than ``Generator.binomial``, which sets its sampler
      up again for each probability. This is the mode RL training and the throughput targets use.
    * ``"exact"``: one generator per sub-env, seeded exactly like ``SyncVectorEnv`` seeds its single
      envs (int seed s ⇒ sub-env i gets ``s + i``; a list gives one seed each), and only the random
      draws loop over sub-envs (one ``standard_normal`` and one ``binomial`` call per sub-env and
      step, in the single env's order); all the arithmetic stays batched. Trajectories, rewards and
      infos then equal those of N single envs (``tests/test_vector_env.py`` checks it against
      ``SyncVectorEnv``, also with procedural histories and across autoresets). Slower (draw cost
      grows with N), still far faster than ``SyncVectorEnv``.

Histories
    A fixed history (corpus, a file, a ``History``) is one (T, d) array broadcast to the N sub-envs
    (no copies). ``"procedural"`` draws one history per sub-env at each of its resets, in fast mode
    all of them in one call (:meth:`~progressgym_env.procedural.ProceduralHistory.sample_values`).
    Any other ``HistorySource`` object works too, sampled sub-env by sub-env at resets (a loop, the
    one exception), and its records are then assembled per terminated sub-env.

Backend: ``"surrogate"`` only (with ``backend_config`` as a dict or
    :class:`~progressgym_env.backends.SurrogateConfig`); an LLM backend cannot be batched this way:
    use ``gym.make_vec(id, num_envs=N, vectorization_mode="sync")``.
"""

from progressgym_env.envs.vector.draws import RNG_MODES
from progressgym_env.envs.vector.env import (
    CoevolveVectorEnv,
    FollowVectorEnv,
    PredictVectorEnv,
    ProgressGymVectorEnv,
)
from progressgym_env.envs.vector.layout import episode_record_at
from progressgym_env.envs.vector.settings import VectorSettings, check_batched_backend

__all__ = [
    "RNG_MODES",
    "CoevolveVectorEnv",
    "FollowVectorEnv",
    "PredictVectorEnv",
    "ProgressGymVectorEnv",
    "VectorSettings",
    "check_batched_backend",
    "episode_record_at",
]
