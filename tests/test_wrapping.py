"""Wrapping a model for training: the layer limit per PEFT method."""

from __future__ import annotations

from finsql.lm.wrapping import wrap_for_training


def test_layers_limit_per_method(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    from finsql.plugins import peft_methods

    methods = peft_methods()
    expected = {"lora": "layers_to_transform", "ia3": "frozen-below", "bitfit": "frozen-below"}
    for name, how in expected.items():
        base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
        model, applied = wrap_for_training(methods[name], base, dict(methods[name].defaults), 1, 10)
        assert applied == how
        trainable = [n for n, p in model.named_parameters() if p.requires_grad]
        assert trainable and all(".layers.1." in n for n in trainable), (name, trainable)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    prompt = methods["prompt-tuning"]
    assert wrap_for_training(prompt, base, dict(prompt.defaults), 1, 10)[1] == "not-layered"
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert wrap_for_training(methods["lora"], base, dict(methods["lora"].defaults), 0, 10)[1] == "all"
