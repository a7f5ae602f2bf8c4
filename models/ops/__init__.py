"""The five operations, one module each: `plan(pipe, args, sampling)` works out what a call will do
(its plan, its windows and how many steps it reports) before anything is computed, and `run(pipe, call,
run)` does it. The pipeline (pipeline.py) checks the arguments, holds the model and the shared machinery,
and dispatches by name through `BY_NAME`.
"""

from . import continue_, generate, inpaint, interpolate, transform

BY_NAME = {
    "generate": generate,
    "transform": transform,
    "inpaint": inpaint,
    "interpolate": interpolate,
    "continue": continue_,
}
