"""The one operation spec, and the faces that derive from it: bridge tables, pedal Remote, Client, generate's length."""

import pytest

from reverie.bridge import protocol as P
from reverie.models.errors import ReverieError
from reverie.models.operations import DEFAULT_GENERATE_SECONDS, NAMES, OPERATIONS, TRACK, generate_seconds, operation


def test_generate_length_is_one_rule():
    from reverie.models.melody import Melody, Note

    tune = Melody((Note(0.5, 7.0, 60),))
    take = Melody((Note(0.5, 7.0, 60),), take_seconds=9.25)  # hummed: the take ran on after its last note
    assert generate_seconds(3.5, tune) == 3.5  # asked for wins
    assert generate_seconds(None, tune) == 7.0  # else the melody's length: a MIDI melody's last note
    assert generate_seconds(None, take) == 9.25  # or the hummed take's whole length
    assert generate_seconds(None, None) == DEFAULT_GENERATE_SECONDS  # no melody
    assert generate_seconds(None, Melody(())) == DEFAULT_GENERATE_SECONDS  # a MIDI file without notes


def test_an_operation_says_what_its_result_lasts_and_which_input_it_follows():
    generate, transform, interpolate, continue_ = (
        OPERATIONS[n] for n in ("generate", "transform", "interpolate", "continue")
    )
    assert (generate.main_input, transform.main_input, interpolate.main_input) == (None, "audio", "a")
    assert generate.result_seconds(None, 4.0) == 4.0
    assert transform.result_seconds(12.5, None) == 12.5
    assert continue_.result_seconds(12.5, 4.0) == 16.5
    assert [n for n, op in OPERATIONS.items() if op.edits] == ["transform", "interpolate"]
    assert [n for n, op in OPERATIONS.items() if op.streams] == ["generate"]


def test_a_timestep_sets_strengths_default_aside_and_both_together_are_refused():
    transform = OPERATIONS["transform"]
    assert transform.filled({})["strength"] == 0.5 and transform.filled({})["timestep"] is None
    assert transform.filled({"timestep": 300})["strength"] is None
    assert transform.filled({"steps": None}, {"steps": 12})["steps"] == 12  # a model's own default
    with pytest.raises(ReverieError, match="give --strength or --timestep, not both") as caught:
        transform.check_alternatives({"strength": 0.2, "timestep": 300}, spell=lambda name: "--" + name)
    assert caught.value.field == "timestep"


def test_the_wire_tables_are_the_spec_plus_wire_only_things():
    assert P.JOB_OPS == NAMES and P.OPS == ("info", "status", "cancel", *NAMES)
    for name, op in OPERATIONS.items():
        assert P.OP_PARAMS[name] == (*op.names, TRACK.name)
        assert P.REQUIRED_PARAMS.get(name, ()) == op.required
        assert tuple(P.OP_PAYLOAD[name]) == (*op.inputs, "midi", "hum")
        for p in (*op.params, TRACK):
            assert P.PARAM_TYPES[p.name] == p.type, f"{p.name} has two wire types"
    assert P.OP_PARAMS["cancel"] == ("job",) and P.REQUIRED_PARAMS["cancel"] == ("job",)


def test_unknown_operation_names_the_five():
    with pytest.raises(ReverieError, match="allowed: generate, transform, inpaint, interpolate, continue"):
        operation("explode")


def test_remote_and_client_take_their_names_from_the_spec():
    from reverie.bridge.client import Client, InvalidRequest
    from reverie.bridge.pedal import Remote

    with pytest.raises(ReverieError) as caught:
        Remote("explode")
    assert caught.value.field == "op" and "interpolate" in caught.value.message
    for name in NAMES:  # every op has its Client method, found through the spec
        assert callable(getattr(Client, OPERATIONS[name].method))
    with Client("tcp://127.0.0.1:9", timeout=0.1) as client, pytest.raises(InvalidRequest) as caught:
        client.run("explode")
    assert caught.value.code == P.UNKNOWN_OP


def test_every_declared_operation_has_its_own_module_with_a_plan_and_a_run():
    from reverie.models import ops

    assert set(ops.BY_NAME) == set(NAMES)
    for name, module in ops.BY_NAME.items():
        assert module.__name__ == f"reverie.models.ops.{OPERATIONS[name].method}"
        assert callable(module.plan) and callable(module.run)


def test_a_prepared_calls_arguments_are_its_declared_ones_in_a_frozen_dataclass(pipe):
    import dataclasses

    from conftest import tone

    for name, inputs in (("transform", {"audio": tone(1.0, 22050)}), ("generate", {"seconds": 1.0})):
        call = pipe.prepare(name, **inputs, seed=2)
        spec = OPERATIONS[name]
        assert [f.name for f in dataclasses.fields(call.args)] == [*spec.inputs, *spec.names, "melody"]
        assert call.args.seed == 2 and call.args.steps is None and call.args.melody is None
        with pytest.raises(dataclasses.FrozenInstanceError):
            call.args.seed = 3
    assert call.args.sample_rate == 44100 and type(call.args).__name__ == "GenerateArgs"
