"""Answering a question: linking, retrieval, prompting, generation, SQL checks, voting, evaluation."""
