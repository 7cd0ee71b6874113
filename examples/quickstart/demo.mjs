// The README's first command ends here. Until the embedded model and CudaRunner land this
// only says so and exits 0.
console.log('inferkit: no local model yet (the embedded quickstart model lands with the quickstart issue)');
