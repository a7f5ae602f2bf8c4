"""pedalboard's built-in effects: which there are, the parameters each takes and the ranges allowed.

What is allowed comes from pedalboard itself: the plugin names from its
classes, the parameter names, types and defaults from each constructor's
signature (`plugin_params`), and ranges from the checks its constructors make.
`LIMITS` adds the ranges pedalboard accepts but that make no sound sense (a
negative cutoff, a mix above 1). effects.py checks preset entries against them.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

# pedalboard classes that are containers, abstract bases or loaders, not effects to name in a preset.
NOT_EFFECTS = {
    "Plugin",
    "PluginContainer",
    "Pedalboard",
    "Chain",
    "Mix",
    "ExternalPlugin",
    "VST3Plugin",
    "AudioUnitPlugin",
    "IIRFilter",
}
FREQUENCY_PARAMS = ("cutoff_frequency_hz", "cutoff_hz", "centre_frequency_hz")
# name -> (lowest, highest, lowest excluded); None = unbounded. Applies to every built-in with that parameter.
LIMITS: dict[str, tuple[float | None, float | None, bool]] = {
    **dict.fromkeys(("mix", "depth", "resonance"), (0.0, 1.0, False)),
    "feedback": (-1.0, 1.0, False),
    **dict.fromkeys(("rate_hz", "q"), (0.0, 100.0, True)),
    **dict.fromkeys(("attack_ms", "release_ms"), (0.0, 10000.0, False)),
    **dict.fromkeys(("lookahead_ms", "centre_delay_ms"), (0.0, 100.0, False)),
    **dict.fromkeys(("ratio", "drive"), (1.0, 100.0, False)),
    "gain_db": (-60.0, 24.0, False),
    "drive_db": (0.0, 60.0, False),
    "threshold_db": (-100.0, 0.0, False),
    "ceiling_db": (-60.0, 0.0, False),
    "bit_depth": (1.0, 32.0, False),
    "vbr_quality": (0.0, 10.0, False),
    "target_sample_rate": (1000.0, 384000.0, False),
}


@dataclass(frozen=True)
class Param:
    name: str
    type: str  # "float", "int", "bool", "str", "path" or "enum"
    default: str | None  # as pedalboard prints it
    enum: type | None = None

    def allowed(self, sample_rate: int) -> str | None:
        """What the value may be, in words; None for a number only pedalboard bounds."""
        if self.type == "enum":
            return "one of " + ", ".join(self.enum.__members__)
        if self.type == "bool":
            return "true or false"
        if self.type == "path":
            return "a file path"
        lo, hi, open_lo = limits(self.name, sample_rate)
        if lo is None and hi is None:
            return None
        if open_lo:
            return f"a number above {lo:g} and at most {hi:g}"
        return f"a number from {lo:g} to {hi:g}"


def limits(name: str, sample_rate: int) -> tuple[float | None, float | None, bool]:
    if name in FREQUENCY_PARAMS:
        return 0.0, sample_rate / 2.0, True
    return LIMITS.get(name, (None, None, False))


@functools.cache
def builtin_plugins() -> dict[str, type]:
    import pedalboard

    out = {}
    for name in dir(pedalboard):
        cls = getattr(pedalboard, name)
        if (
            isinstance(cls, type)
            and issubclass(cls, pedalboard.Plugin)
            and not name.startswith("_")
            and name not in NOT_EFFECTS
        ):
            out[name] = cls
    return dict(sorted(out.items()))


_SIGNATURE_PARAM = re.compile(r"(\w+): ([\w.\[\], ]+?)(?: = (<[^>]*>|[^,]+))?(?:, |$)")


@functools.cache
def plugin_params(name: str) -> dict[str, Param]:
    """Parameters of a built-in plugin, read from the signature pybind11 prints for its constructor."""
    cls = builtin_plugins()[name]
    doc = (cls.__init__.__doc__ or "").strip().splitlines()[0]
    inside = doc[doc.index("(") + 1 : doc.rindex(")")]
    params = {}
    for pname, ptype, default in _SIGNATURE_PARAM.findall(inside):
        if pname == "self":
            continue
        if pname.endswith("_filename"):
            kind, enum = "path", None
        elif "." in ptype and "numpy" not in ptype:
            kind, enum = "enum", _enum_type(cls, ptype)
        else:
            kind, enum = (
                {"float": "float", "int": "int", "bool": "bool", "str": "str"}.get(
                    ptype.replace("Optional[", "").rstrip("]"), "float"
                ),
                None,
            )
        params[pname] = Param(pname, kind, default or None, enum)
    return params


def _enum_type(cls: type, dotted: str):
    import pedalboard

    owner_name, enum_name = dotted.split(".")[-2:]
    owner = getattr(pedalboard, owner_name, cls)
    return getattr(owner, enum_name)
