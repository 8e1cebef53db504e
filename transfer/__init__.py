"""Transfer of a thermometer's first layer into RG encoders and autoencoders.

- :mod:`transfer.analytic`: block decimation and majority rule, as NumPy
  functions on spin arrays and as frozen Keras layers.
- :mod:`transfer.learned`: learned RG encoders, autoencoders (continuous or
  binary code) and RG encode-decode models, initialised from a thermometer's
  layer ``models.COARSE_LAYER`` (transfer learning) or at random (from scratch).
- :mod:`transfer.flow`: the RG flow beta -> beta' through the coarse-scale
  thermometers.
"""
