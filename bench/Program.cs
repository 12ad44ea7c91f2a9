using BenchmarkDotNet.Running;
using NativeZcopy.Bench;

// Temporary (reliability branch): every benchmark class in this assembly, picked by --filter, until the
// benchmark suite's own Program lands.
BenchmarkSwitcher.FromAssembly(typeof(TrackingOverheadBenchmarks).Assembly).Run(args);
