"""Op classes by family: elemwise, reduce, shape, indexing, blas, nnet."""
