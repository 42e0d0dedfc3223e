"""The expert manifest: a typed record that reads and writes ``finsql-expert.json`` without loss."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from finsql.lm.manifest import BUNDLED, MANIFEST_FORMAT, ExpertManifest

DEMO = Path(__file__).resolve().parents[1] / "data" / "experts" / "demo-lora" / "finsql-expert.json"


def test_round_trip_keeps_every_field():
    manifest = ExpertManifest(
        method="lora",
        base_model="tiny",
        base_model_hash="abc",
        schema_fingerprint="fp1",
        params={"r": 8},
        shots=2,
        prompt_style="names",
        example_tokens=300,
        data={"hash": "d", "pairs": 4},
        metrics={"train_loss": 0.5},
        composition={"combiner": "average", "experts": ["a", "b"], "weights": [0.5, 0.5]},
        created_at="2025-01-01T00:00:00+00:00",
        name="x",
        path="/somewhere/x",
    )
    payload = manifest.to_json()
    assert "path" not in payload  # machine-local: never written
    assert "extra" not in payload and "database" not in payload  # None fields are left out
    assert payload["format"] == MANIFEST_FORMAT and payload["name"] == "x"
    again = ExpertManifest.from_json(json.loads(json.dumps(payload)))
    assert again == dataclasses.replace(manifest, path="")


def test_unknown_fields_are_kept_and_written_back():
    payload = {"method": "lora", "shots": 1, "from_the_future": {"a": 1}, "score": 0.9}
    manifest = ExpertManifest.from_json(payload)
    assert manifest.extra == {"from_the_future": {"a": 1}, "score": 0.9}
    assert manifest.shots == 1 and manifest.prompt_style == "full"  # known fields, defaults for the rest
    written = manifest.to_json()
    assert written["from_the_future"] == {"a": 1} and written["score"] == 0.9
    assert ExpertManifest.from_json(written) == manifest


def test_fingerprints_of_a_joint_expert():
    joint = ExpertManifest(method="lora", schema_fingerprint="f1", schema_fingerprints={"a": "f1", "b": "f2"})
    assert joint.fingerprints() == {"f1", "f2"}
    assert ExpertManifest(method="lora", schema_fingerprint="f3").fingerprints() == {"f3"}
    assert ExpertManifest(method="lora").fingerprints() == set()


def test_bundled_flag():
    assert ExpertManifest(method="lora", source=BUNDLED).bundled
    assert not ExpertManifest(method="lora").bundled


def test_the_shipped_demo_manifest_loads():
    payload = json.loads(DEMO.read_text(encoding="utf-8"))
    manifest = ExpertManifest.from_json(payload)
    assert manifest.method == "lora" and manifest.name == "demo-lora" and not manifest.extra
    assert manifest.base_model == "smollm2-135m-instruct" and manifest.fingerprints() == {
        payload["schema_fingerprint"]
    }
    assert manifest.data["train_pairs"] == payload["data"]["train_pairs"]
    assert {k: v for k, v in manifest.to_json().items() if k in payload} == payload
