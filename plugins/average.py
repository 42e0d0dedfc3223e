"""Average: the experts' LoRA matrices summed with uniform weights 1/n (what FinSQL's released code does)."""

from finsql.experts.combiners import Combiner, linear_combine
from finsql.hookspecs import hookimpl


@hookimpl
def register_combiners(register):
    register(Combiner("average", "A = mean(A_i), B = mean(B_i): uniform weights, no search", linear_combine))
