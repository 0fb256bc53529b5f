"""Run every fuzz harness on its seeds and on deterministic mutations of them.

This needs no fuzzer: it calls each harness's ``test_one_input`` directly, so the
harnesses themselves stay tested and their invariant (only ``ProtocolError``s; what
parses re-encodes) is checked on every test run.  atheris explores far more deeply;
see fuzz/README.md.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

FUZZ = Path(__file__).resolve().parent.parent / "fuzz"
sys.path.insert(0, str(FUZZ))

from make_corpus import harness_names, load  # noqa: E402

MUTATIONS = 1500


def mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        choice = rng.random()
        if choice < 0.3 and buf:
            buf[rng.randrange(len(buf))] = rng.randrange(256)
        elif choice < 0.5 and buf:
            del buf[rng.randrange(len(buf)) :]
        elif choice < 0.7:
            pos = rng.randrange(len(buf) + 1)
            buf[pos:pos] = rng.randbytes(rng.randint(1, 16))
        elif choice < 0.85 and buf:
            start = rng.randrange(len(buf))
            del buf[start : start + rng.randint(1, 16)]
        elif buf:
            pos = rng.randrange(len(buf))
            buf[pos : pos + 4] = rng.choice([b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\x7f"])
    return bytes(buf)


@pytest.mark.parametrize("name", harness_names())
def test_harness_survives_seeds_and_mutations(name: str) -> None:
    harness = load(name)
    seeds = harness.seeds()
    assert seeds, f"{name} has no seeds"
    rng = random.Random(name)
    for seed in seeds:
        harness.test_one_input(seed)
    for _ in range(MUTATIONS):
        harness.test_one_input(mutate(rng, rng.choice(seeds)))
    for _ in range(200):
        harness.test_one_input(rng.randbytes(rng.randint(0, 300)))
