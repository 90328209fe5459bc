"""The garbage collector, set for a long-running server (called once the application is built).

Measured on scenario A of `make bench` (uvicorn, one core, 800 sends/s): with Python's
defaults a full collection ran every ~2 s and walked ~250,000 objects, holding the event
loop for 150-270 ms each time, which alone put p99 delivery over 100 ms. Two changes:

- `gc.freeze()` after start-up: the modules, settings, URL patterns and app registry
  live as long as the process, so full collections stop walking them again and again.
- A larger first-generation threshold (`GC_GEN0_THRESHOLD`, default 20,000 instead of
  700): the objects of a frame or a request mostly die before a collection sees them,
  so fewer survive into older generations and full collections come far less often.
  Memory is still reclaimed (reference counting frees nearly everything at once; cycles
  wait a little longer). 0 keeps Python's defaults.
"""

import gc


def tune_garbage_collector(gen0_threshold: int) -> None:
    gc.collect()  # what start-up left as garbage is not frozen with the rest
    gc.freeze()
    if gen0_threshold > 0:
        _, gen1, gen2 = gc.get_threshold()
        gc.set_threshold(gen0_threshold, gen1, gen2)
