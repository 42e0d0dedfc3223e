"""The language-model layer: provisioning and loading models, PEFT methods, the expert hub."""
