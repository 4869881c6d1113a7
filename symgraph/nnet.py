"""Theano's ``tensor.nnet`` names, for code written against it: activations, softmax and
the cross-entropy losses (all defined in :mod:`symgraph.ops.nnet`).

>>> import symgraph as sg, numpy as np
>>> x = sg.dmatrix("x")
>>> sg.nnet.logsoftmax is sg.nnet.log_softmax, sg.nnet.sigmoid is sg.sigmoid
(True, True)
"""
from .ops.nnet import (binary_crossentropy, categorical_crossentropy, elu, hard_sigmoid,
                       log_softmax, pick, relu, sigmoid, sigmoid_binary_crossentropy,
                       softmax, softplus, softsign)

#: Theano's older spellings
logsoftmax = log_softmax
crossentropy_categorical_1hot = categorical_crossentropy

__all__ = ["binary_crossentropy", "categorical_crossentropy", "crossentropy_categorical_1hot",
           "elu", "hard_sigmoid", "log_softmax", "logsoftmax", "pick", "relu", "sigmoid",
           "sigmoid_binary_crossentropy", "softmax", "softplus", "softsign"]
