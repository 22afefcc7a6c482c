"""Framework-free core: fans, gains, specs, schemes, structured inits and counter-based streams.

Nothing in here imports torch, jax or keras.
"""
