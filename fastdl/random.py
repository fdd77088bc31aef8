"""Seeded random numbers: the default Generator behind dropout and ``fastdl.nn.init``.

``fastdl.manual_seed(seed)`` makes them reproducible, as ``torch.manual_seed`` does for
torch (the streams differ from torch's: these are NumPy's PCG64).
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["Generator", "default_generator", "manual_seed", "initial_seed"]

_TORCH_DEFAULT_SEED = 67280421310721  # torch's default generator starts from this seed too


class Generator:
    """A source of random numbers with torch.Generator's seeding interface.

    Draws come from :attr:`rng`, a ``numpy.random.Generator`` (PCG64).
    """

    __slots__ = ("rng", "_seed")

    def __init__(self, seed: int = _TORCH_DEFAULT_SEED):
        self.manual_seed(seed)

    def manual_seed(self, seed: int) -> "Generator":
        """Restart the stream from ``seed`` (an int; negative seeds wrap modulo 2**64)."""
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
            raise TypeError(f"manual_seed: seed must be an int, got {type(seed).__name__}")
        self._seed = int(seed) % (1 << 64)
        self.rng = np.random.Generator(np.random.PCG64(self._seed))
        return self

    def seed(self) -> int:
        """Reseed from fresh OS entropy; return the new seed."""
        new = int(np.random.SeedSequence().entropy) % (1 << 64)
        self.manual_seed(new)
        return new

    def initial_seed(self) -> int:
        """The seed the stream was last started from."""
        return self._seed

    def get_state(self) -> dict:
        """The stream's state (to resume it later with :meth:`set_state`)."""
        return {"seed": self._seed, "bit_generator": self.rng.bit_generator.state}

    def set_state(self, state: dict) -> "Generator":
        self._seed = state["seed"]
        self.rng = np.random.Generator(np.random.PCG64())
        self.rng.bit_generator.state = state["bit_generator"]
        return self

    def __repr__(self) -> str:
        return f"Generator(initial_seed={self._seed})"


default_generator = Generator()


def manual_seed(seed: int) -> Generator:
    """Seed the default generator (dropout masks, ``fastdl.nn.init``); return it."""
    return default_generator.manual_seed(seed)


def initial_seed() -> int:
    """The seed the default generator was last started from."""
    return default_generator.initial_seed()


def numpy_rng(generator=None) -> np.random.Generator:
    """The NumPy generator to draw from: the default one, a fastdl Generator's, or a
    ``numpy.random.Generator`` given directly."""
    if generator is None:
        return default_generator.rng
    if isinstance(generator, Generator):
        return generator.rng
    if isinstance(generator, np.random.Generator):
        return generator
    raise TypeError("generator must be a fastdl.Generator or a numpy.random.Generator, got "
                    f"{type(generator).__name__}")
