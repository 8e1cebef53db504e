import os

# Quiet TensorFlow and keep its thread pools small on the two-core test machine.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MPLBACKEND", "Agg")
