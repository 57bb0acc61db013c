"""The read side: event files read back (checked, streamed), runs compared and exported.

Nothing in this subpackage imports TensorFlow or Keras.
"""
