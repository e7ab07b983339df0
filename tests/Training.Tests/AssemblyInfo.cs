// TorchSharp's thread pool, RNG and allocator are process-wide: tests that run side by side change
// each other's reduction order, and the resume test asserts bit-identical losses. Run them one at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
