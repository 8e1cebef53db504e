"""The catalogue of thermometer architectures: name -> builder from a lattice and its settings.

The pipeline's ``thermometer.architectures`` names entries of :data:`THERMOMETERS`;
a new architecture is one builder registered here (and its settings in
``pipeline.stages.THERMOMETER_SETTINGS``).
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["THERMOMETERS", "build_thermometer"]


def _dense(lattice, settings: dict, seed: int):
    from .thermometers import build_dense_thermometer

    return build_dense_thermometer(lattice, hidden=settings["dense_hidden"], seed=seed)


def _conv(lattice, settings: dict, seed: int):
    from .thermometers import build_conv_thermometer

    kernel = settings["conv_kernel"] or lattice.conv_kernel
    return build_conv_thermometer(lattice, filters=settings["conv_filters"], kernel_size=kernel, seed=seed)


#: Architecture name -> ``builder(lattice, settings, seed) -> keras.Model``.
THERMOMETERS: dict[str, Callable] = {"dense": _dense, "conv": _conv}


def build_thermometer(arch: str, lattice, settings: dict, seed: int = 0):
    """An untrained thermometer of architecture ``arch`` for ``lattice``.

    ``settings`` is the configuration's ``thermometer`` section (the keys the
    architecture reads); ``seed`` fixes the initialisation.
    """
    if arch not in THERMOMETERS:
        raise ValueError(f"unknown thermometer architecture {arch!r}; known: {', '.join(THERMOMETERS)}")
    return THERMOMETERS[arch](lattice, settings, seed)
