"""Measurements on ensembles and encoders, and figures drawn from saved tables.

- :mod:`analysis.sparsity`: sparsity and block locality of encoder weights (claim C1).
- :mod:`analysis.correlations`: connected correlations, C(r) and the correlation length (C2).
- :mod:`analysis.entropy`: patch (block) entropies and compression entropy per spin (C4).
- :mod:`analysis.plots`: one function per figure, each reading a table and drawing nothing else.

Submodules are imported explicitly (``from analysis.sparsity import hoyer``), so
that the numerical modules do not pull in matplotlib.
"""
