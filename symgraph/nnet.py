"""Theano's ``tensor.nnet`` names, for code written against it, and Lasagne's objectives:
activations, softmax and the losses (all defined in :mod:`symgraph.ops.nnet`).

>>> import symgraph as sg, numpy as np
>>> x = sg.dmatrix("x")
>>> sg.nnet.logsoftmax is sg.nnet.log_softmax, sg.nnet.sigmoid is sg.sigmoid
(True, True)
"""
from .ops.nnet import (binary_crossentropy, binary_crossentropy_with_logits,
                       categorical_crossentropy, elu, gelu, hard_sigmoid, hard_tanh, hinge,
                       huber, huber_loss, leaky_relu, log_sigmoid, log_softmax, mse,
                       multiclass_hinge_loss, pick, relu, selu, sigmoid,
                       sigmoid_binary_crossentropy, silu, softmax,
                       softmax_crossentropy_with_logits, softplus, softsign, squared_error,
                       swish)

from .random import dropout
from .ops.conv import (conv1d, conv2d, conv2d_grad_wrt_inputs, conv2d_grad_wrt_weights,
                       conv2d_transpose, conv2d_xcorr, conv_transpose2d)
from .ops.pool import avg_pool2d, global_avg_pool2d, max_pool2d, pool_2d
from .ops.normalization import (BatchNorm, batch_normalization, batch_normalization_test,
                                 batch_normalization_train, bn, layer_normalization)

#: Theano's older spellings
logsoftmax = log_softmax
crossentropy_categorical_1hot = categorical_crossentropy

__all__ = ["binary_crossentropy", "binary_crossentropy_with_logits",
           "categorical_crossentropy", "crossentropy_categorical_1hot", "dropout", "elu", "gelu",
           "hard_sigmoid", "hard_tanh", "hinge", "huber", "huber_loss", "leaky_relu",
           "log_sigmoid", "log_softmax", "logsoftmax", "mse", "multiclass_hinge_loss",
           "pick", "relu", "selu", "sigmoid", "sigmoid_binary_crossentropy", "silu",
           "softmax", "softmax_crossentropy_with_logits", "softplus", "softsign",
           "squared_error", "swish",
           "conv1d", "conv2d", "conv2d_grad_wrt_inputs", "conv2d_grad_wrt_weights",
           "conv2d_transpose", "conv2d_xcorr", "conv_transpose2d",
           "avg_pool2d", "global_avg_pool2d", "max_pool2d", "pool_2d",
           "BatchNorm", "batch_normalization", "batch_normalization_test",
           "batch_normalization_train", "bn", "layer_normalization"]
