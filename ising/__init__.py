"""Equilibrium ensembles of the Ising model on arbitrary lattices.

H = -J sum_<ij> s_i s_j - h sum_i s_i with s = ±1 and k_B = 1.
"""

__version__ = "0.1.0"
