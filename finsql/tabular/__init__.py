"""TabLLM (Hegselmann et al., AISTATS 2023): classify table rows serialized to text with a language model.

``table`` reads rows and column descriptions and serializes rows through the serializer plugins; ``datasets``
holds built-in data sets; ``scoring`` computes the length-normalised likelihood of each answer choice and
fine-tunes on a few labelled rows; ``evaluation`` draws balanced shots, scores AUC and runs the baselines.
"""
